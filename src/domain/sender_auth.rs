//! Sender authentication of incoming e-mail (contract §12): the outcome of
//! the SPF, DKIM, DMARC and ARC checks, and which of a message's senders
//! they vouch for. Free of DNS and of the protocol; `smtp::sender_auth`
//! runs the checks.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::net::IpAddr;

/// `[smtp] sender_auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SenderAuthMode {
    /// A listed sender must also be authenticated (the default).
    #[default]
    Enforce,
    /// Checked and recorded; the allow-list alone decides.
    Report,
    /// Nothing is checked.
    Off,
}

/// One check's result, as RFC 8601 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthResult {
    Pass,
    Fail,
    SoftFail,
    Neutral,
    #[default]
    None,
    TempError,
    PermError,
}

impl AuthResult {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::SoftFail => "softfail",
            Self::Neutral => "neutral",
            Self::None => "none",
            Self::TempError => "temperror",
            Self::PermError => "permerror",
        }
    }

    /// The result of several signatures: any pass wins, then a temporary
    /// error (trying again may pass), then the most definite failure.
    pub fn combine(results: impl IntoIterator<Item = AuthResult>) -> AuthResult {
        let rank = |r: AuthResult| match r {
            Self::Pass => 0,
            Self::TempError => 1,
            Self::Fail => 2,
            Self::SoftFail => 3,
            Self::PermError => 4,
            Self::Neutral => 5,
            Self::None => 6,
        };
        results
            .into_iter()
            .min_by_key(|r| rank(*r))
            .unwrap_or(Self::None)
    }
}

/// What the checks found for one message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Authentication {
    pub spf: AuthResult,
    pub dkim: AuthResult,
    pub dmarc: AuthResult,
    pub arc: AuthResult,
    /// The domain SPF passed for: the envelope sender's (not the HELO name's).
    pub spf_domain: Option<String>,
    /// `d=` of every DKIM signature that verified.
    pub dkim_domains: Vec<String>,
    /// A valid ARC chain sealed only by trusted sealers whose first
    /// results say DMARC passed for the `From` domain.
    pub arc_vouches: bool,
    /// Checked at all (`sender_auth` is not `off`).
    pub checked: bool,
}

impl Authentication {
    /// `file_metadata.authentication`.
    pub fn metadata(&self) -> Value {
        json!({
            "spf": self.spf.as_str(),
            "dkim": self.dkim.as_str(),
            "dmarc": self.dmarc.as_str(),
            "arc": self.arc.as_str(),
        })
    }

    /// A check that failed for a reason that may pass on a retry.
    pub fn temporary(&self) -> bool {
        [self.spf, self.dkim, self.dmarc, self.arc].contains(&AuthResult::TempError)
    }

    /// The senders these results vouch for (contract §12): the header
    /// `From` when DMARC passed for its domain (or a trusted ARC chain says
    /// it did), the envelope sender when SPF passed for its domain or a
    /// verified DKIM signature aligns with it.
    pub fn authenticated<'a>(
        &self,
        envelope: &'a str,
        header_from: Option<&'a str>,
    ) -> Vec<&'a str> {
        let mut senders = Vec::new();
        if let Some(from) = header_from {
            // A domain that publishes no DMARC policy still gets the
            // alignment check DMARC would make.
            let unpublished = self.dmarc == AuthResult::None
                && domain_of(from).is_some_and(|domain| self.vouches_for_domain(domain));
            if self.dmarc == AuthResult::Pass || self.arc_vouches || unpublished {
                senders.push(from);
            }
        }
        if let Some(domain) = domain_of(envelope) {
            let spf = self.spf == AuthResult::Pass
                && self
                    .spf_domain
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(domain));
            if spf || self.dkim_domains.iter().any(|d| aligned(d, domain)) {
                senders.push(envelope);
            }
        }
        senders
    }

    /// SPF passed for, or a verified DKIM signature is of, a domain aligned
    /// with `domain`.
    fn vouches_for_domain(&self, domain: &str) -> bool {
        let spf = self.spf == AuthResult::Pass
            && self
                .spf_domain
                .as_deref()
                .is_some_and(|d| aligned(d, domain));
        spf || self.dkim_domains.iter().any(|d| aligned(d, domain))
    }
}

/// The domain of `local@domain`.
pub fn domain_of(address: &str) -> Option<&str> {
    address
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('.'))
        .filter(|d| !d.is_empty())
}

/// Relaxed alignment (RFC 7489 §3.1) approximated without a public-suffix
/// list: the same domain, or one a subdomain of the other, never a bare
/// top-level domain.
pub fn aligned(a: &str, b: &str) -> bool {
    let (a, b) = (a.to_ascii_lowercase(), b.to_ascii_lowercase());
    let (a, b) = (a.trim_end_matches('.'), b.trim_end_matches('.'));
    let sub =
        |child: &str, parent: &str| parent.contains('.') && child.ends_with(&format!(".{parent}"));
    a == b || sub(a, b) || sub(b, a)
}

/// A network in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`, or one
/// address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Self> {
        let (ip, prefix) = match s.trim().split_once('/') {
            Some((ip, p)) => (ip.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Self {
            network: ip,
            prefix,
        })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_parse_and_match() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("203.0.113.9".parse().unwrap()));
        assert!(Cidr::parse("127.0.0.1")
            .unwrap()
            .contains("127.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:db8:1::5".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/", "::/129", ""] {
            assert_eq!(Cidr::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn alignment_is_relaxed_but_not_to_a_tld() {
        assert!(aligned("broker.example", "BROKER.example"));
        assert!(aligned("mail.broker.example", "broker.example"));
        assert!(aligned("broker.example", "news.broker.example"));
        assert!(!aligned("other.example", "broker.example"));
        assert!(!aligned("broker.example", "example"));
        assert!(!aligned("evilbroker.example", "broker.example"));
    }

    #[test]
    fn only_vouched_senders_count() {
        let mut auth = Authentication {
            spf: AuthResult::Pass,
            spf_domain: Some("relay.example".into()),
            ..Default::default()
        };
        let from = Some("desk@broker.example");
        assert_eq!(
            auth.authenticated("b@relay.example", from),
            ["b@relay.example"]
        );
        auth.spf_domain = Some("elsewhere.example".into());
        assert!(auth.authenticated("b@relay.example", from).is_empty());
        auth.dkim_domains = vec!["relay.example".into()];
        assert_eq!(
            auth.authenticated("b@relay.example", from),
            ["b@relay.example"]
        );
        auth.dmarc = AuthResult::Pass;
        assert_eq!(
            auth.authenticated("", from),
            ["desk@broker.example"],
            "a null sender is never vouched for"
        );
    }

    #[test]
    fn results_combine_best_first() {
        use AuthResult::*;
        assert_eq!(AuthResult::combine([Neutral, Pass, Fail]), Pass);
        assert_eq!(AuthResult::combine([Neutral, TempError, Fail]), TempError);
        assert_eq!(AuthResult::combine([Neutral, PermError]), PermError);
        assert_eq!(AuthResult::combine([]), None);
    }
}
