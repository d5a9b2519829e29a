//! Sender authentication (contract §12) on the protocol side: SPF for the
//! connecting (or relayed) address, DKIM, DMARC and ARC with mail-auth over
//! a shared caching resolver, and the `Authentication-Results` header.
//! What the results allow is the email service's business.

use super::data::{self, DataOutcome};
use crate::blobs::BlobStore;
use crate::config::SmtpConfig;
use crate::domain::sender_auth::{domain_of, AuthResult, Authentication, Cidr, SenderAuthMode};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfResult,
};
use std::io;
use std::net::IpAddr;
use std::time::Duration;
use tokio::io::AsyncBufRead;

/// The checks as configured; one per server, shared by its sessions (the
/// resolver caches answers within their TTL and serves lookups concurrently).
pub struct SenderAuth {
    resolver: Option<MessageAuthenticator>,
    relays: Vec<Cidr>,
    sealers: Vec<String>,
    hostname: String,
    /// Where messages wait for their checks (see `data::receive`).
    spool: std::path::PathBuf,
}

impl SenderAuth {
    pub fn new(cfg: &SmtpConfig, spool: std::path::PathBuf) -> anyhow::Result<Self> {
        let resolver = match cfg.sender_auth {
            SenderAuthMode::Off => None,
            _ => Some(resolver(cfg)?),
        };
        Ok(Self {
            resolver,
            relays: cfg.trusted_relays(),
            sealers: cfg
                .trusted_arc_sealers
                .iter()
                .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                .collect(),
            hostname: cfg.hostname.clone(),
            spool,
        })
    }

    /// Receives DATA (see `data::receive`) and authenticates the message;
    /// what is stored starts with the `Authentication-Results` header.
    #[allow(clippy::too_many_arguments)]
    pub async fn receive<R: AsyncBufRead + Unpin>(
        &self,
        reader: &mut R,
        blobs: &BlobStore,
        key: &str,
        trace: &[u8],
        limit: u64,
        idle: Duration,
        client: Client<'_>,
    ) -> io::Result<(DataOutcome, Authentication)> {
        let Some(resolver) = &self.resolver else {
            // Nothing to check: the header is known before the message.
            let mut prefix =
                format!("Authentication-Results: {}; none\r\n", self.hostname).into_bytes();
            prefix.extend_from_slice(trace);
            let outcome = data::receive(reader, blobs, key, &prefix, limit, idle, None).await?;
            return Ok((outcome, Authentication::default()));
        };
        let spool = Some(self.spool.as_path());
        let outcome = data::receive(reader, blobs, key, trace, limit, idle, spool).await?;
        let DataOutcome::Held {
            bytes,
            content_sha256,
            headers,
        } = outcome
        else {
            return Ok((outcome, Authentication::default()));
        };
        let (auth, header) = self.check(resolver, client, &bytes[trace.len()..]).await;
        Ok(
            match data::store(blobs, key, header.as_bytes(), bytes).await {
                Ok((size, sha256)) => {
                    let mut all = header.into_bytes();
                    all.extend_from_slice(&headers);
                    (
                        DataOutcome::Stored {
                            size,
                            sha256,
                            content_sha256,
                            headers: all,
                        },
                        auth,
                    )
                }
                Err(e) => (DataOutcome::StorageFailed(e.to_string()), auth),
            },
        )
    }

    /// Runs SPF, DKIM, ARC and DMARC on `message` (as the client sent it).
    async fn check(
        &self,
        resolver: &MessageAuthenticator,
        client: Client<'_>,
        message: &[u8],
    ) -> (Authentication, String) {
        let mut auth = Authentication {
            checked: true,
            ..Default::default()
        };
        let Some(msg) = AuthenticatedMessage::parse(message) else {
            auth.dkim = AuthResult::PermError;
            auth.dmarc = AuthResult::PermError;
            let header = format!(
                "Authentication-Results: {}; dkim=permerror (unparsable message)\r\n",
                self.hostname
            );
            return (auth, header);
        };
        // Behind a trusted relay, the address that reached the relay counts.
        let (ip, helo) = if self.relays.iter().any(|r| r.contains(client.ip)) {
            relayed_client(&msg).unwrap_or((client.ip, client.helo.to_string()))
        } else {
            (client.ip, client.helo.to_string())
        };
        let mail_from = client.mail_from;
        let spf_params = if mail_from.is_empty() {
            SpfParameters::verify_ehlo(ip, &helo, &self.hostname)
        } else {
            SpfParameters::verify_mail_from(ip, &helo, &self.hostname, mail_from)
        };
        let dkim_future = resolver.verify_dkim(&msg);
        let spf_future = resolver.verify_spf(spf_params);
        let arc_future = resolver.verify_arc(&msg);
        let (dkim, spf, arc) = tokio::join!(dkim_future, spf_future, arc_future);
        let mail_from_domain = domain_of(mail_from).unwrap_or(&helo).to_string();
        let dmarc = resolver
            .verify_dmarc(mail_auth::dmarc::verify::DmarcParameters::new(
                &msg,
                &dkim,
                &mail_from_domain,
                &spf,
            ))
            .await;

        auth.spf = spf_result(spf.result());
        if !mail_from.is_empty() {
            auth.spf_domain = Some(spf.domain().to_string());
        }
        auth.dkim = AuthResult::combine(dkim.iter().map(|o| dkim_result(o.result())));
        auth.dkim_domains = dkim
            .iter()
            .filter(|o| o.result() == &DkimResult::Pass)
            .filter_map(|o| o.signature().map(|s| s.d.to_ascii_lowercase()))
            .collect();
        auth.dmarc = dmarc_result(&dmarc.result());
        auth.arc = dkim_result(arc.result());
        let from = msg.from.first().map(String::as_str).unwrap_or_default();
        auth.arc_vouches = auth.arc == AuthResult::Pass
            && !arc.sets().is_empty()
            && arc.sets().iter().all(|set| {
                let d = set.seal.header.d.trim_end_matches('.').to_ascii_lowercase();
                self.sealers.contains(&d)
            })
            && arc
                .sets()
                .iter()
                .find(|set| set.results.header.i == 1)
                .is_some_and(|first| {
                    domain_of(from).is_some_and(|d| says_dmarc_passed(first.results.value, d))
                });

        let mut header = AuthenticationResults::new(&self.hostname)
            .with_spf_mailfrom_result(&spf, ip, mail_from, &helo)
            .with_dkim_results(&dkim, from)
            .with_arc_result(&arc, ip)
            .with_dmarc_result(&dmarc)
            .to_header();
        if dkim.is_empty() {
            // mail-auth writes nothing for an unsigned message; RFC 8601 says none.
            header = header.replacen(";\r\n\tarc=", ";\r\n\tdkim=none;\r\n\tarc=", 1);
        }
        (auth, header)
    }
}

/// Who handed the message over.
#[derive(Clone, Copy)]
pub struct Client<'a> {
    pub ip: IpAddr,
    pub helo: &'a str,
    pub mail_from: &'a str,
}

fn resolver(cfg: &SmtpConfig) -> anyhow::Result<MessageAuthenticator> {
    let mut opts = ResolverOpts::default();
    opts.timeout = cfg.dns_timeout();
    opts.attempts = 2;
    let resolver = if cfg.dns_servers.is_empty() {
        let (config, mut system) = mail_auth::hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| anyhow::anyhow!("cannot read the system DNS configuration: {e}"))?;
        system.timeout = opts.timeout;
        MessageAuthenticator::new(config, system)
    } else {
        let servers = cfg
            .dns_servers
            .iter()
            .map(|addr| {
                let mut server = NameServerConfig::udp_and_tcp(addr.ip());
                for connection in &mut server.connections {
                    connection.port = addr.port();
                }
                server
            })
            .collect();
        MessageAuthenticator::new(ResolverConfig::from_name_servers(servers), opts)
    };
    resolver.map_err(|e| anyhow::anyhow!("cannot set up the DNS resolver: {e}"))
}

/// The client address and HELO name a trusted relay recorded in its own
/// (the top) `Received` header: `from helo (… [192.0.2.1])`.
fn relayed_client(msg: &AuthenticatedMessage<'_>) -> Option<(IpAddr, String)> {
    let (_, value) = msg
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(b"Received"))?;
    let value = std::str::from_utf8(value).ok()?;
    let from = value.trim_start().strip_prefix("from")?;
    let helo = from.split_whitespace().next()?.to_string();
    let clause = from.split(" by ").next()?;
    let ip = clause.split('[').skip(1).find_map(|rest| {
        let inside = rest.split(']').next()?;
        let inside = inside.strip_prefix("IPv6:").unwrap_or(inside);
        inside.parse::<IpAddr>().ok()
    })?;
    Some((ip, helo))
}

/// Whether an ARC-Authentication-Results value records `dmarc=pass` for
/// `domain` (its `header.from`).
fn says_dmarc_passed(value: &[u8], domain: &str) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    value.split(';').any(|clause| {
        let mut words = clause.split_whitespace();
        words
            .next()
            .is_some_and(|w| w.eq_ignore_ascii_case("dmarc=pass"))
            && words.any(|w| {
                w.split_once('=').is_some_and(|(k, v)| {
                    k.eq_ignore_ascii_case("header.from")
                        && v.trim_matches('"').eq_ignore_ascii_case(domain)
                })
            })
    })
}

fn spf_result(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn dkim_result(r: &DkimResult) -> AuthResult {
    match r {
        DkimResult::Pass => AuthResult::Pass,
        DkimResult::Neutral(_) => AuthResult::Neutral,
        DkimResult::Fail(_) => AuthResult::Fail,
        DkimResult::PermError(_) => AuthResult::PermError,
        DkimResult::TempError(_) => AuthResult::TempError,
        DkimResult::None => AuthResult::None,
    }
}

fn dmarc_result(r: &DmarcResult) -> AuthResult {
    match r {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::TempError,
        DmarcResult::PermError(_) => AuthResult::PermError,
        DmarcResult::None => AuthResult::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arc_results_must_name_the_from_domain() {
        let aar = b"i=1; gw.example; spf=pass smtp.mailfrom=x@broker.example;\r\n\tdmarc=pass header.from=broker.example";
        assert!(says_dmarc_passed(aar, "BROKER.example"));
        assert!(!says_dmarc_passed(aar, "other.example"));
        assert!(!says_dmarc_passed(
            b"i=1; gw.example; dmarc=fail header.from=broker.example",
            "broker.example"
        ));
        assert!(!says_dmarc_passed(
            b"i=1; gw.example; dmarc=pass",
            "broker.example"
        ));
    }
}
