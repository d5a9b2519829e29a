//! Contract §8: the command line, configuration and first start.

mod common;

use common::{assert_error, connector_path, TestServer, CONNECTORS};
use std::os::unix::fs::PermissionsExt;

#[tokio::test]
async fn first_start_writes_a_private_initial_key_that_works() {
    let s = TestServer::start().await;
    let key_file = s.data_dir().join("initial-api-key");
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(s.data_dir().join("secret.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(s.admin_key.starts_with("inlet_") && s.admin_key.len() == 70);
    assert_eq!(s.get(CONNECTORS, &s.admin_key).await.status(), 200);
}

#[tokio::test]
async fn restart_keeps_data_and_does_not_mint_another_initial_key() {
    let mut s = TestServer::start().await;
    let c = s
        .create_email_connector(&s.admin_key, "persisted", false)
        .await;
    s.restart();
    let key_again = std::fs::read_to_string(s.data_dir().join("initial-api-key")).unwrap();
    assert_eq!(key_again.trim(), s.admin_key);
    let resp = s.get(&connector_path(&c), &s.admin_key).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(s.list_keys().lines().count(), 2, "header and one key");
}

#[tokio::test]
async fn create_key_prints_only_the_key_and_list_keys_never_shows_it() {
    let s = TestServer::start().await;
    let out = s.cli(&[
        "admin",
        "create-key",
        "--org",
        "acme",
        "--user",
        "alice",
        "--name",
        "laptop",
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "the key alone on stdout: {stdout:?}"
    );
    let key = stdout.trim();
    assert!(key.starts_with("inlet_") && key[6..].chars().all(|c| c.is_ascii_hexdigit()));
    let c = s.create_email_connector(key, "alice's", false).await;
    assert_eq!(c["org_id"], "acme");
    assert_eq!(c["user_id"], "alice");

    let list = s.list_keys();
    assert!(list.contains("acme\talice\tlaptop"), "{list}");
    assert!(!list.contains(&key[6..]), "keys are never listed");
    assert!(!list.contains(&s.admin_key[6..]));

    // A user belongs to one org.
    let clash = s.cli(&["admin", "create-key", "--org", "globex", "--user", "alice"]);
    assert!(!clash.status.success());
    assert!(clash.stdout.is_empty());
    assert!(String::from_utf8_lossy(&clash.stderr).contains("alice"));
}

#[tokio::test]
async fn revoked_keys_answer_401_at_once() {
    let s = TestServer::start().await;
    let key = s.create_key("acme", "alice");
    assert_eq!(s.get(CONNECTORS, &key).await.status(), 200);
    let key_id = s.key_id_of("alice");
    let out = s.cli(&["admin", "revoke-key", &key_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_error(s.get(CONNECTORS, &key).await, 401, "UNAUTHORIZED").await;
    assert_eq!(
        s.get(CONNECTORS, &s.admin_key).await.status(),
        200,
        "other keys still work"
    );
    let list = s.list_keys();
    assert!(
        list.lines()
            .any(|l| l.starts_with(&key_id) && l.contains("revoked")),
        "{list}"
    );

    let unknown = s.cli(&["admin", "revoke-key", &uuid::Uuid::now_v7().to_string()]);
    assert!(!unknown.status.success());
    let malformed = s.cli(&["admin", "revoke-key", "nope"]);
    assert!(!malformed.status.success());
}

/// `inlet serve` with this configuration must refuse to start, naming `needle`.
fn assert_refuses(config: &str, env: &[(&str, &str)], needle: &str) {
    let server = env.iter().fold(
        TestServer::builder().minimal().config(config),
        |b, (k, v)| b.env(k, v),
    );
    let out = server.start_and_exit();
    assert!(!out.status.success(), "{config} should stop start-up");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(needle),
        "stderr should name {needle:?}: {stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_configuration_stops_start_up_naming_the_key() {
    assert_refuses("colour = \"blue\"", &[], "colour");
    assert_refuses("smtp_addr = \"not an address\"", &[], "smtp_addr");
    assert_refuses("log_format = \"xml\"", &[], "log_format");
    assert_refuses("secret_key = \"short\"", &[], "secret_key");
    assert_refuses("default_portal = \"nowhere\"", &[], "default_portal");
    assert_refuses("[http]\nmax_body_bytes = -1", &[], "max_body_bytes");
    assert_refuses("[http]\nbody = 1", &[], "body");
    assert_refuses(
        "[[portals]]\nname = \"p\"\nkind = \"ftp\"\nbroker = \"B\"\nhost = \"h\"",
        &[],
        "kind",
    );
    assert_refuses("[[portals]]\nname = \"p\"\nkind = \"sftp\"\nbroker = \"B\"\nhost = \"h\"\nsync_interval = \"soon\"", &[], "sync_interval");
    assert_refuses("[[portals]]\nname = \"p\"\nkind = \"sftp\"\nbroker = \"B\"\nhost = \"h\"\nhost_key = \"md5:xx\"", &[], "host_key");
    assert_refuses("", &[("INLET_HTTP_ADDR", "nowhere")], "http_addr");
    assert_refuses("[smtp]\nsender_auth = \"maybe\"", &[], "sender_auth");
    assert_refuses("[smtp]\ndns_servers = [\"8.8.8.8\"]", &[], "dns_servers");
    assert_refuses(
        "[smtp]\ntrusted_relays = [\"10.0.0.0/33\"]",
        &[],
        "trusted_relays",
    );
    assert_refuses(
        "[smtp]\ntrusted_arc_sealers = [\"a b\"]",
        &[],
        "trusted_arc_sealers",
    );
    assert_refuses("[smtp]\ndns_timeout = \"soon\"", &[], "dns_timeout");
    let missing = TestServer::builder()
        .config_path("/nonexistent/inlet.toml")
        .start_and_exit();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/inlet.toml"));
}

#[tokio::test]
async fn environment_and_flags_override_the_file() {
    let server = TestServer::builder()
        .config_file("http_addr = \"127.0.0.1:1\"\nlog_format = \"text\"\n")
        .arg("--http-addr")
        .arg("127.0.0.1:0");
    let data = server.data_dir();
    // The JSON log line with the bound address, which the harness waits
    // for, proves both overrides.
    let s = server
        .env("INLET_DATA_DIR", &data)
        .env("INLET_LOG_FORMAT", "json")
        .close_stderr_when_ready()
        .start()
        .await;
    assert_ne!(
        s.base, "http://127.0.0.1:1",
        "--http-addr wins over the file"
    );
    assert!(
        data.join("initial-api-key").exists(),
        "INLET_DATA_DIR wins over the default"
    );
    // stderr is closed from here on: the server must keep serving regardless.
    assert_eq!(s.get_without_key("/healthz").await.status(), 200);
}
