//! Real DNS for the sender-authentication tests, offline: a private
//! `dnsmasq` on a free loopback port serving only the TXT records a test
//! writes (SPF, DKIM keys, DMARC policies), plus keys to sign with.

use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Domains the tests use; names under them that have no record are
/// answered NXDOMAIN (not passed on, there is nowhere to pass them).
const LOCAL_DOMAINS: &[&str] = &["example", "test"];

pub struct LocalDns {
    child: Child,
    pub addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl LocalDns {
    /// Serves `records` (name, TXT value); values longer than a DNS string
    /// (255 bytes) are split into several strings of one record.
    pub fn start(records: &[(String, String)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut conf = String::from("no-resolv\nno-hosts\nlocal-ttl=300\nneg-ttl=300\n");
        for domain in LOCAL_DOMAINS {
            conf += &format!("local=/{domain}/\n");
        }
        for (name, value) in records {
            let strings: Vec<String> = value
                .as_bytes()
                .chunks(250)
                .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
                .collect();
            conf += &format!("txt-record={name},{}\n", strings.join(","));
        }
        let conf_path = dir.path().join("dnsmasq.conf");
        std::fs::write(&conf_path, conf).unwrap();
        for _ in 0..20 {
            let port = free_port();
            let mut child = Command::new(dnsmasq())
                .arg(format!("--conf-file={}", conf_path.display()))
                .args([
                    "--keep-in-foreground",
                    "--bind-interfaces",
                    "--listen-address=127.0.0.1",
                    "--pid-file",
                    "--user=",
                    "--group=",
                ])
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("dnsmasq starts (Debian package dnsmasq-base)");
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    use std::io::Read;
                    child.stderr.take().unwrap().read_to_string(&mut err).ok();
                    assert!(
                        err.contains("in use"),
                        "dnsmasq exited with {status}: {err}"
                    );
                    break; // the port was taken meanwhile: another one
                }
                if TcpStream::connect(addr).is_ok() {
                    return Self {
                        child,
                        addr,
                        _dir: dir,
                    };
                }
                assert!(Instant::now() < deadline, "dnsmasq did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        panic!("no free port for dnsmasq");
    }

    /// `[smtp]` keys pointing the server at this DNS.
    pub fn smtp_config(&self, mode: &str, extra: &str) -> String {
        format!(
            "[smtp]\nsender_auth = \"{mode}\"\ndns_servers = [\"{}\"]\n{extra}\n",
            self.addr
        )
    }
}

impl Drop for LocalDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dnsmasq() -> &'static str {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("dnsmasq")
}

/// A loopback port free for both UDP and TCP just now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A DNS server that never answers: queries time out.
pub struct SilentDns {
    _socket: UdpSocket,
    pub addr: SocketAddr,
}

impl SilentDns {
    pub fn start() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        Self {
            _socket: socket,
            addr,
        }
    }
}

/// A DKIM signing key and the TXT record that publishes it.
/// DER of the private key, PKCS#1 (RSA, as `openssl genpkey` writes it)
/// or PKCS#8 (Ed25519); mail-auth's keys are consumed by signing.
pub enum Key {
    Rsa(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl Key {
    fn rsa(der: &[u8]) -> mail_auth::common::crypto::RsaKey<mail_auth::common::crypto::Sha256> {
        mail_auth::common::crypto::RsaKey::from_key_der(rustls::pki_types::PrivateKeyDer::Pkcs1(
            der.to_vec().into(),
        ))
        .expect("an RSA key")
    }

    fn ed25519(der: &[u8]) -> mail_auth::common::crypto::Ed25519Key {
        mail_auth::common::crypto::Ed25519Key::from_pkcs8_der(der).expect("an Ed25519 key")
    }
}

pub struct SigningKey {
    pub key: Key,
    /// The `p=…` record for `<selector>._domainkey.<domain>`.
    pub record: String,
}

impl SigningKey {
    /// A fresh RSA-2048 key (made by `openssl`).
    pub fn rsa() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let private = dir.path().join("key.der");
        let ok = Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .args(["-outform", "DER", "-out"])
            .arg(&private)
            .stderr(Stdio::null())
            .status()
            .expect("openssl runs")
            .success();
        assert!(ok, "openssl genpkey");
        let public = Command::new("openssl")
            .args([
                "pkey", "-inform", "DER", "-pubout", "-outform", "DER", "-in",
            ])
            .arg(&private)
            .output()
            .expect("openssl runs")
            .stdout;
        let der = std::fs::read(&private).unwrap();
        Key::rsa(&der);
        Self {
            key: Key::Rsa(der),
            record: format!("v=DKIM1; k=rsa; p={}", base64(&public)),
        }
    }

    pub fn ed25519() -> Self {
        let pkcs8 = mail_auth::common::crypto::Ed25519Key::generate_pkcs8().unwrap();
        let public = Key::ed25519(&pkcs8).public_key();
        let record = format!("v=DKIM1; k=ed25519; p={}", base64(&public));
        Self {
            key: Key::Ed25519(pkcs8),
            record,
        }
    }
}

pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// How a test signs: algorithm by key, canonicalisation, expiry.
pub struct Sign<'a> {
    pub key: &'a SigningKey,
    pub domain: &'a str,
    pub selector: &'a str,
    /// `relaxed/relaxed` when true, `simple/simple` otherwise.
    pub relaxed: bool,
    /// Seconds from now; 0: none.
    pub expires_in: u64,
}

impl Sign<'_> {
    /// The `DKIM-Signature:` header line(s) for `message`.
    pub fn header(&self, message: &[u8]) -> String {
        match &self.key.key {
            Key::Rsa(der) => self.with(Key::rsa(der), message),
            Key::Ed25519(der) => self.with(Key::ed25519(der), message),
        }
    }

    /// `message` with its signature prepended.
    pub fn signed(&self, message: &[u8]) -> Vec<u8> {
        let mut out = self.header(message).into_bytes();
        out.extend_from_slice(message);
        out
    }

    fn with<
        K: mail_auth::common::crypto::SigningKey<Hasher = mail_auth::common::crypto::Sha256>,
    >(
        &self,
        key: K,
        message: &[u8],
    ) -> String {
        use mail_auth::common::headers::HeaderWriter;
        use mail_auth::dkim::{Canonicalization, DkimSigner};
        let canon = if self.relaxed {
            Canonicalization::Relaxed
        } else {
            Canonicalization::Simple
        };
        let mut signer = DkimSigner::from_key(key)
            .domain(self.domain)
            .selector(self.selector)
            .headers(["From", "To", "Subject", "Message-ID", "Date"])
            .header_canonicalization(canon)
            .body_canonicalization(canon);
        if self.expires_in > 0 {
            signer = signer.expiration(self.expires_in);
        }
        signer.sign(message).expect("signs").to_header()
    }
}

/// A mail-auth verifier using `dns`, as a forwarding gateway runs one.
pub fn authenticator(dns: &LocalDns) -> mail_auth::MessageAuthenticator {
    use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    let mut server = NameServerConfig::udp_and_tcp(dns.addr.ip());
    for c in &mut server.connections {
        c.port = dns.addr.port();
    }
    mail_auth::MessageAuthenticator::new(
        ResolverConfig::from_name_servers(vec![server]),
        ResolverOpts::default(),
    )
    .unwrap()
}

/// What a forwarding gateway `sealer` does with `original` (received from
/// `ip` with envelope `mail_from`): checks it, changes its subject (which
/// breaks the author's DKIM signature) and ARC-seals the result with `key`.
pub async fn forward_with_arc(
    dns: &LocalDns,
    original: &[u8],
    (ip, mail_from): (std::net::IpAddr, &str),
    sealer: &str,
    key: &SigningKey,
) -> Vec<u8> {
    use mail_auth::arc::ArcSealer;
    use mail_auth::common::headers::HeaderWriter;
    use mail_auth::dmarc::verify::DmarcParameters;
    use mail_auth::spf::verify::SpfParameters;
    use mail_auth::{AuthenticatedMessage, AuthenticationResults};
    let verifier = authenticator(dns);
    let msg = AuthenticatedMessage::parse(original).unwrap();
    let dkim = verifier.verify_dkim(&msg).await;
    let spf = verifier
        .verify_spf(SpfParameters::verify_mail_from(
            ip,
            "mx.example",
            sealer,
            mail_from,
        ))
        .await;
    let domain = mail_from.rsplit_once('@').unwrap().1;
    let dmarc = verifier
        .verify_dmarc(DmarcParameters::new(&msg, &dkim, domain, &spf))
        .await;
    let from = msg.from.first().cloned().unwrap_or_default();
    let results = AuthenticationResults::new(sealer)
        .with_dkim_results(&dkim, &from)
        .with_spf_mailfrom_result(&spf, ip, mail_from, "mx.example")
        .with_dmarc_result(&dmarc);
    let text = String::from_utf8(original.to_vec()).unwrap();
    let forwarded = text
        .replacen("Subject: ", "Subject: [ext] ", 1)
        .into_bytes();
    let changed = AuthenticatedMessage::parse(&forwarded).unwrap();
    let arc = verifier.verify_arc(&changed).await;
    let Key::Rsa(rsa) = &key.key else {
        panic!("ARC seals with RSA here")
    };
    let set = ArcSealer::from_key(Key::rsa(rsa))
        .domain(sealer)
        .selector("arc")
        .headers(["From", "To", "Subject", "DKIM-Signature"])
        .seal(&changed, &results, &arc)
        .expect("seals");
    let mut out = set.to_header().into_bytes();
    out.extend_from_slice(&forwarded);
    out
}
