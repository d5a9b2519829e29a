//! Edges a hostile test round found (contract §15): private files, admin
//! commands that must not invent a data dir, operator-facing output.

mod common;

use common::{TestServer, BIN};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// Every directory under `dir` is 0700 and every file 0600 (nothing for
/// group or others), with the offenders named.
fn assert_private(dir: &Path) {
    let mut open = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mode = std::fs::metadata(&d).unwrap().permissions().mode();
        if mode & 0o077 != 0 {
            open.push(format!("{} {:o}", d.display(), mode & 0o777));
        }
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else if meta.permissions().mode() & 0o077 != 0 {
                open.push(format!(
                    "{} {:o}",
                    path.display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
    }
    assert!(open.is_empty(), "readable by others: {open:#?}");
}

#[tokio::test]
async fn data_dir_files_are_private_whatever_the_umask() {
    // The most permissive umask a service is commonly started with; the
    // server inherits it.
    // SAFETY: only this process's file-creation mask changes.
    unsafe { libc::umask(0o000) };
    let s = TestServer::start().await;
    let doc = s
        .upload(&s.admin_key, "q3.txt", b"private research", json!({}))
        .await;
    assert_eq!(doc["status"], "completed");
    s.email_connector(&s.admin_key, "inbox", false).await;
    assert!(!s.blob_files().is_empty());
    assert_private(&s.data_dir());
}

#[test]
fn admin_refuses_a_data_dir_that_does_not_exist() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("not-the-servers");
    let out = Command::new(BIN)
        .args(["admin", "list-keys", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&missing.display().to_string()),
        "names the path: {stderr}"
    );
    assert!(!missing.exists(), "nothing was created");

    let init = Command::new(BIN)
        .args(["admin", "--init", "create-key", "--org", "o", "--user", "u"])
        .arg("--data-dir")
        .arg(&missing)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    assert!(missing.is_dir());
    let keys = Command::new(BIN)
        .args(["admin", "list-keys", "--data-dir"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(keys.status.success());
    assert!(String::from_utf8_lossy(&keys.stdout).contains("\tu\t"));
}

#[tokio::test]
async fn admin_takes_the_servers_data_dir_flag() {
    let s = TestServer::start().await;
    let key = Command::new(BIN)
        .args(["admin", "create-key", "--org", "default", "--user", "bob"])
        .arg("--data-dir")
        .arg(s.data_dir())
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "{}",
        String::from_utf8_lossy(&key.stderr)
    );
    let key = String::from_utf8(key.stdout).unwrap().trim().to_string();
    assert_eq!(s.get("/contents/v1/connectors", &key).await.status(), 200);
}

#[tokio::test]
async fn list_jobs_says_a_purge_has_no_attempt_limit() {
    let s = TestServer::start_with("[jobs]\nworkers = 0").await;
    let c = s.email_connector(&s.admin_key, "to purge", false).await;
    let id = c["connector_id"].as_str().unwrap();
    let resp = s
        .delete(
            &format!("/contents/v1/connectors/{id}?force_delete=true"),
            &s.admin_key,
        )
        .await;
    assert_eq!(resp.status(), 200);
    let out = s.cli(&["admin", "list-jobs"]);
    let list = String::from_utf8(out.stdout).unwrap();
    let purge = list
        .lines()
        .find(|l| l.contains("purge_connector"))
        .unwrap_or_else(|| panic!("a purge job is listed: {list}"));
    assert!(purge.contains("\t0/unlimited\t"), "{purge}");
}

#[tokio::test]
async fn logs_to_a_file_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["admin", "--init", "create-key", "--org", "o", "--user", "u"])
        .arg("--data-dir")
        .arg(dir.path().join("d"))
        .env("INLET_LOG_FORMAT", "text")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("API key created"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "no ANSI escapes: {stderr:?}");
}
