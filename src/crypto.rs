//! Server-side secrets: API keys (random, stored only as SHA-256 hashes) and
//! the server key that seals research passwords with AES-256-GCM.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;
use std::io::Write;
use std::path::Path;

/// Prefix of every API key, so leaked keys are easy to recognise and scan for.
const API_KEY_PREFIX: &str = "inlet_";
const NONCE_LEN: usize = 12;

/// A new 256-bit API key, as shown once to its owner.
pub fn new_api_key() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{API_KEY_PREFIX}{}", hex::encode(bytes))
}

/// What the store keeps of an API key.
pub fn hash_api_key(key: &str) -> String {
    hash_secret(key)
}

/// SHA-256, hex: what the store keeps of a bearer secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// 256 bits straight from the operating system's RNG, hex: console
/// session ids and their CSRF tokens.
pub fn os_random_hex() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

impl SecretKey {
    pub fn from_hex(s: &str) -> Result<Self, &'static str> {
        let bytes = hex::decode(s.trim()).map_err(|_| "must be 64 hexadecimal characters")?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| "must be 64 hexadecimal characters")?;
        Ok(Self(arr))
    }

    /// The configured key, else the key file in `data_dir` (created with mode
    /// 0600 on first start).
    pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(hex) = configured {
            return Self::from_hex(hex).map_err(|e| anyhow::anyhow!("secret_key {e}"));
        }
        let path = data_dir.join("secret.key");
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_hex(&text)
                .map_err(|e| anyhow::anyhow!("key file {} {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                write_private_file(&path, hex::encode(key).as_bytes())?;
                tracing::info!(path = %path.display(), "created the server secret key file");
                Ok(Self(key))
            }
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// HMAC-SHA256 of a signed URL's parts, under a key derived from the
    /// server key (so the sealing key itself never signs anything).
    pub fn sign_url(&self, method: &str, id: &str, expires: i64) -> String {
        hex::encode(self.url_mac(method, id, expires).finalize().into_bytes())
    }

    /// Constant-time check of a signature made by [`Self::sign_url`].
    pub fn verify_url(&self, method: &str, id: &str, expires: i64, signature: &str) -> bool {
        match hex::decode(signature) {
            Ok(sig) => self.url_mac(method, id, expires).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }

    fn url_mac(&self, method: &str, id: &str, expires: i64) -> HmacSha256 {
        let mut derive =
            <HmacSha256 as Mac>::new_from_slice(&self.0).expect("HMAC takes any key length");
        derive.update(b"inlet signed urls v1");
        let key = derive.finalize().into_bytes();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).expect("HMAC takes any key length");
        mac.update(format!("{method}\n{id}\n{expires}").as_bytes());
        mac
    }

    /// Encrypts `plain`, bound to `context` (e.g. the connector id) so a
    /// sealed value cannot be moved to another record.
    pub fn seal(&self, plain: &[u8], context: &[u8]) -> Vec<u8> {
        let cipher = Aes256Gcm::new((&self.0).into());
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut out = nonce_bytes.to_vec();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        Aes256Gcm::new((&self.0).into())
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: context,
                },
            )
            .ok()
    }
}

/// Writes a file readable by its owner only, durably, replacing any old one.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", tmp.display()))?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_are_random_and_hashed() {
        let (a, b) = (new_api_key(), new_api_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), API_KEY_PREFIX.len() + 64);
        assert_eq!(hash_api_key(&a), hash_api_key(&a));
        assert_ne!(hash_api_key(&a), hash_api_key(&b));
        assert!(!hash_api_key(&a).contains(&a[API_KEY_PREFIX.len()..]));
    }

    #[test]
    fn seal_round_trips_and_is_bound_to_context() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let sealed = key.seal(b"hunter2", b"ctx-1");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open(&sealed, b"ctx-1").unwrap(), b"hunter2");
        assert!(key.open(&sealed, b"ctx-2").is_none());
        let other = SecretKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(other.open(&sealed, b"ctx-1").is_none());
    }

    #[test]
    fn url_signatures_bind_every_part() {
        let key = SecretKey::from_hex(&"ab".repeat(32)).unwrap();
        let sig = key.sign_url("PUT", "DOC", 100);
        assert!(key.verify_url("PUT", "DOC", 100, &sig));
        assert!(!key.verify_url("GET", "DOC", 100, &sig));
        assert!(!key.verify_url("PUT", "DOD", 100, &sig));
        assert!(!key.verify_url("PUT", "DOC", 101, &sig));
        assert!(!key.verify_url("PUT", "DOC", 100, "zz"));
        let other = SecretKey::from_hex(&"cd".repeat(32)).unwrap();
        assert!(!other.verify_url("PUT", "DOC", 100, &sig));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let k1 = SecretKey::load_or_create(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let k2 = SecretKey::load_or_create(None, dir.path()).unwrap();
        assert_eq!(k1.0, k2.0);
        assert!(SecretKey::from_hex("zz").is_err());
    }
}
