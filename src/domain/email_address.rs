//! Syntactic e-mail address checks (RFC 5321 dot-atom local part and domain),
//! strict enough to catch typos, lenient enough for real broker addresses.

const LOCAL_SPECIALS: &str = "!#$%&'*+/=?^_`{|}~-";

/// Returns the trimmed address when it is syntactically valid.
pub fn parse(raw: &str) -> Result<String, &'static str> {
    let addr = raw.trim();
    if addr.is_empty() {
        return Err("must not be empty");
    }
    if addr.len() > 254 {
        return Err("must be at most 254 characters");
    }
    let (local, domain) = addr.rsplit_once('@').ok_or("must contain '@'")?;
    if !is_dot_atom(local, |c| {
        c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c)
    }) || local.len() > 64
    {
        return Err("has an invalid local part");
    }
    if !is_domain(domain) {
        return Err("has an invalid domain");
    }
    Ok(addr.to_string())
}

fn is_dot_atom(s: &str, allowed: impl Fn(char) -> bool) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(&allowed))
}

fn is_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn accepts_common_addresses() {
        for ok in [
            "user@example.com",
            "First.Last+tag@mail.example.co.uk",
            " research-desk@broker.io ",
            "a_b@x-y.com",
        ] {
            assert!(parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(parse(" a@b.co ").unwrap(), "a@b.co");
    }

    #[test]
    fn rejects_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "user@",
            "user@localhost",
            "us er@example.com",
            "user..x@example.com",
            ".user@example.com",
            "user@-bad.com",
            "user@bad-.com",
            "user@exa_mple.com",
            "a@b@example.com",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
