//! Several replicas: two real `inlet serve` processes on one PostgreSQL
//! database and one blob directory (these tests always use PostgreSQL).

mod common;

use common::smtp::{message, Smtp};
use common::{spawn_serve, KillOnDrop, TestDatabase};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

struct Replica {
    child: Option<KillOnDrop>,
    base: String,
    smtp: String,
}

struct Cluster {
    _db: TestDatabase,
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
    key: String,
    replicas: Vec<Replica>,
    http: reqwest::Client,
}

impl Cluster {
    /// `None` (and a note) when no PostgreSQL is reachable outside CI.
    fn start() -> Option<Self> {
        let db = TestDatabase::create_always()?;
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("inlet.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\nhttp_addr = \"127.0.0.1:0\"\nsmtp_addr = \"127.0.0.1:0\"\ninbox_domain = \"inbox.test\"\n\
                 log_format = \"json\"\ndatabase_url = \"{}\"\n[jobs]\nlease = \"2s\"\n\
                 [rate_limit]\nrequests_per_minute = 1000000\nburst = 1000000\n",
                dir.path().join("shared").display().to_string(),
                db.url
            ),
        )
        .unwrap();
        let mut cluster = Cluster {
            _db: db,
            config,
            key: String::new(),
            replicas: vec![],
            http: reqwest::Client::new(),
            dir,
        };
        cluster.add();
        cluster.key = std::fs::read_to_string(cluster.dir.path().join("shared/initial-api-key"))
            .unwrap()
            .trim()
            .into();
        cluster.add();
        Some(cluster)
    }

    fn add(&mut self) {
        let (child, http, smtp) = spawn_serve(&self.config);
        self.replicas.push(Replica {
            child: Some(KillOnDrop(child)),
            base: format!("http://{http}"),
            smtp,
        });
    }

    fn req(&self, n: usize, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.replicas[n].base))
            .header("X-API-KEY", &self.key)
    }

    async fn get(&self, n: usize, path: &str) -> reqwest::Response {
        self.req(n, reqwest::Method::GET, path)
            .send()
            .await
            .unwrap()
    }
}

const CONNECTORS: &str = "/contents/v1/connectors";

async fn inbox(c: &Cluster) -> Value {
    c.req(0, reqwest::Method::POST, CONNECTORS)
        .json(&json!({"type": "email", "label": "shared inbox", "config": {"allowed_emails": ["desk@broker.example"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn what_one_replica_writes_the_other_reads() {
    let Some(c) = Cluster::start() else { return };
    let created = inbox(&c).await;
    let path = format!("{CONNECTORS}/{}", created["connector_id"].as_str().unwrap());
    let read: Value = c.get(1, &path).await.json().await.unwrap();
    assert_eq!(read, created);
    // An upload registered on one replica completes through the other.
    let ticket: Value = c
        .req(0, reqwest::Method::POST, "/contents/v1/documents")
        .json(&json!({"file_name": "note.txt"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = ticket["url"]
        .as_str()
        .unwrap()
        .replace(&c.replicas[0].base, &c.replicas[1].base);
    assert_eq!(
        c.http
            .put(&url)
            .body("across replicas")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let doc_path = format!("/contents/v1/documents/{}", ticket["id"].as_str().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let doc: Value = c.get(0, &doc_path).await.json().await.unwrap();
        if doc["status"] == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "{doc}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A hard delete accepted by one replica is purged once, by either.
    let resp = c
        .req(
            1,
            reqwest::Method::DELETE,
            &format!("{path}?force_delete=true"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while c.get(0, &path).await.status() != 404 {
        assert!(Instant::now() < deadline, "never purged");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut purges = 0.0;
    for r in 0..2 {
        let text = c
            .http
            .get(format!("{}/metrics", c.replicas[r].base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        purges += text
            .lines()
            .find(|l| l.starts_with(r#"inlet_jobs_total{kind="purge_connector",outcome="done"}"#))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse::<f64>().unwrap());
    }
    assert_eq!(
        purges, 1.0,
        "the purge ran exactly once across the replicas"
    );
}

#[tokio::test]
async fn deliveries_spread_over_both_are_stored_exactly_once() {
    let Some(c) = Cluster::start() else { return };
    let connector = inbox(&c).await;
    let address = connector["config"]["email"].as_str().unwrap().to_string();
    let mut tasks = vec![];
    for r in 0..2 {
        let (smtp_addr, address) = (c.replicas[r].smtp.clone(), address.clone());
        tasks.push(tokio::spawn(async move {
            let (mut smtp, ..) = Smtp::connect(&smtp_addr).await;
            smtp.cmd("EHLO spread").await;
            for n in 0..30 {
                // Every message goes to both replicas, as a retrying sender would.
                let msg = message(
                    "desk@broker.example",
                    &address,
                    &format!("n{n}"),
                    &format!("{n}@spread"),
                    "hello",
                );
                assert_eq!(
                    smtp.deliver("desk@broker.example", &[&address], &msg)
                        .await
                        .0,
                    250
                );
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let docs: Value = c
        .get(
            1,
            &format!(
                "/contents/v1/documents?page_size=100&connector_id={}",
                connector["connector_id"].as_str().unwrap()
            ),
        )
        .await
        .json()
        .await
        .unwrap();
    let mut ids: Vec<&str> = docs["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file_metadata"]["message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 30, "each message once");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 30);
}

#[tokio::test]
async fn a_killed_replica_leaves_its_purge_to_the_other() {
    let Some(mut c) = Cluster::start() else {
        return;
    };
    let connector = inbox(&c).await;
    let total = 3000;
    common::seed_documents(&c.config, &connector, total, &["label:shared inbox"]).await;
    let path = format!(
        "{CONNECTORS}/{}",
        connector["connector_id"].as_str().unwrap()
    );
    let resp = c
        .req(
            0,
            reqwest::Method::DELETE,
            &format!("{path}?force_delete=true"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resp = c.get(1, &path).await;
        if resp.status() == 404 {
            break;
        }
        let now: Value = resp.json().await.unwrap();
        if now["files_count"].as_i64().unwrap() < total as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "the purge never started");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    c.replicas[0].child.take(); // SIGKILL replica 0
    let deadline = Instant::now() + Duration::from_secs(60);
    while c.get(1, &path).await.status() != 404 {
        assert!(
            Instant::now() < deadline,
            "replica 1 did not finish the purge"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let blobs = walk(&c.dir.path().join("shared/blobs"));
    assert!(
        blobs.iter().all(|p| p.to_string_lossy().contains(".probe")),
        "no document blob left: {}",
        blobs.len()
    );
    let config = inlet::config::Config::load(Some(&c.config), &Default::default()).unwrap();
    let app = inlet::open_state(config).await.unwrap();
    let id = uuid::Uuid::parse_str(connector["connector_id"].as_str().unwrap()).unwrap();
    assert!(app
        .store
        .connector_documents(id, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(app.store.jobs().await.unwrap().is_empty());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
