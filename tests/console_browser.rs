//! The web console in a real browser: Debian's Chromium driven over
//! WebDriver (its chromedriver, started here on a free port), through the
//! flow an analyst follows, with a screenshot of each main page.
//! Chromedriver missing is a failure: CI installs it (`.ci/run`).

mod common;

use common::smtp::Smtp;
use common::{free_port, TestServer, DESK};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
const WAIT: Duration = Duration::from_secs(20);

/// chromedriver and the browsers it starts, in a process group of their
/// own, so all of them end with the test, even when it fails.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
    /// Where the browser saves what it downloads.
    downloads: tempfile::TempDir,
}

impl Driver {
    fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{CHROMEDRIVER} must be installed (Debian chromium-driver): {e}")
            });
        let deadline = Instant::now() + WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            port,
            _profile: tempfile::tempdir().unwrap(),
            downloads: tempfile::tempdir().unwrap(),
        }
    }

    async fn browser(&self) -> Client {
        let profile = self._profile.path().display().to_string();
        let args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
        ]
        .iter()
        .map(|a| a.to_string())
        .chain([format!("--user-data-dir={profile}")])
        .collect();
        let mut caps = serde_json::Map::new();
        let prefs = serde_json::json!({
            "download.default_directory": self.downloads.path(),
            "download.prompt_for_download": false,
        });
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": CHROMIUM, "args": args, "prefs": prefs}),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: signals the process group this test started.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn shot(b: &Client, name: &str) {
    let png = b.screenshot().await.unwrap();
    std::fs::write(screenshots().join(format!("{name}.png")), png).unwrap();
}

async fn text(b: &Client, css: &str) -> String {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn click(b: &Client, css: &str) {
    b.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap();
}

/// Waits until the text of the element matching `css` passes `want`, and
/// returns it. A click that submits a form can return while the old page is
/// still shown, with an element of the same id and the old text.
async fn text_until(b: &Client, css: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        // A missing or stale element (the page is being replaced) reads as "".
        let seen = match b.find(Locator::Css(css)).await {
            Ok(element) => element.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if want(&seen) {
            return seen;
        }
        assert!(Instant::now() < deadline, "{css}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the browser is at `want` (see `text_until`).
async fn at_path(b: &Client, want: &str) {
    let deadline = Instant::now() + WAIT;
    while path(b).await != want {
        assert!(
            Instant::now() < deadline,
            "at {}, not {want}",
            path(b).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn type_into(b: &Client, css: &str, value: &str) {
    b.find(Locator::Css(css))
        .await
        .unwrap()
        .send_keys(value)
        .await
        .unwrap();
}

/// Reloads `url` until its page contains `needle` (processing runs in the
/// server's own workers).
async fn until_shown(b: &Client, url: &str, needle: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        b.goto(url).await.unwrap();
        let source = b.source().await.unwrap();
        if source.contains(needle) {
            return source;
        }
        assert!(Instant::now() < deadline, "{needle} not on {url}: {source}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn path(b: &Client) -> String {
    b.current_url().await.unwrap().path().to_string()
}

/// The bytes of `name` once the browser has finished saving it in `dir`
/// (Chromium writes `<name>.crdownload` first and renames it when done).
async fn downloaded(dir: &std::path::Path, name: &str) -> Vec<u8> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(bytes) = std::fs::read(dir.join(name)) {
            return bytes;
        }
        let seen: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(Instant::now() < deadline, "{name} not downloaded: {seen:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn an_analyst_sets_up_an_inbox_and_reads_what_arrived() {
    let s = TestServer::start().await;
    let driver = Driver::start();
    let b = driver.browser().await;
    let base = &s.base;

    // Sign in.
    b.goto(&format!("{base}/console")).await.unwrap();
    assert_eq!(path(&b).await, "/console/sign-in");
    shot(&b, "01-sign-in").await;
    // By keyboard alone: the key field has the focus, Enter sends the form.
    let focused = b.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("api_key")
    );
    focused
        .send_keys(&format!("{}{}", s.admin_key, Key::Enter))
        .await
        .unwrap();
    text_until(&b, "main", |t| t.contains("No connectors yet")).await;
    at_path(&b, "/console/connectors").await;

    // Create an e-mail connector and read its inbox address off the page.
    click(&b, "#new-email").await;
    type_into(&b, "#label", "Morning desk").await;
    type_into(&b, "#allowed_emails", DESK).await;
    shot(&b, "02-new-inbox").await;
    click(&b, "#create").await;
    let inbox = text(&b, "#inbox").await;
    assert!(
        inbox.ends_with(&format!("@{}", common::INBOX_DOMAIN)),
        "{inbox}"
    );
    let connector_page = b.current_url().await.unwrap().to_string();
    b.goto(&format!("{base}/console/connectors")).await.unwrap();
    assert!(text(&b, "table").await.contains(&inbox));
    shot(&b, "03-connectors").await;

    // Deliver a message with an attachment over SMTP.
    let attachment = "Forecast: margins widen in Q3.\r\n";
    let raw = format!(
        "From: Research Desk <{DESK}>\r\nTo: {inbox}\r\nSubject: Morning call\r\n\
         Message-ID: <browser-1@broker.example>\r\nDate: Wed, 11 Feb 2026 09:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe narwhal thesis holds.\r\n\
         --b\r\nContent-Type: text/plain; name=\"forecast.txt\"\r\n\
         Content-Disposition: attachment; filename=\"forecast.txt\"\r\n\r\n{attachment}--b--\r\n"
    );
    let mut smtp = Smtp::session(&s.smtp).await;
    let (code, reply) = smtp.deliver(DESK, &[&inbox], raw.as_bytes()).await;
    assert_eq!(code, 250, "{reply}");

    // See it in the documents list; search a word of its body.
    until_shown(&b, &format!("{base}/console/documents"), "forecast.txt").await;
    assert!(text(&b, "#documents").await.contains("Morning call"));
    shot(&b, "04-documents").await;
    until_shown(&b, &format!("{base}/console/documents?q=narwhal"), "<mark>").await;
    b.goto(&format!("{base}/console/documents")).await.unwrap();
    type_into(&b, "#q", "narwhal").await;
    click(&b, "#search").await;
    at_path(&b, "/console/documents").await;
    let results = text_until(&b, "#documents", |t| t.contains("narwhal")).await;
    assert!(results.contains("Morning call"), "{results}");
    shot(&b, "05-search").await;
    // The same list at a phone's width.
    b.set_window_size(390, 844).await.unwrap();
    b.goto(&format!("{base}/console/documents")).await.unwrap();
    shot(&b, "09-phone-documents").await;
    b.set_window_size(1280, 900).await.unwrap();

    // Open the attachment and download its original.
    b.goto(&format!("{base}/console/documents")).await.unwrap();
    b.find(Locator::LinkText("forecast.txt"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(text(&b, "#file-name").await, "forecast.txt");
    let id = path(&b).await.rsplit('/').next().unwrap().to_string();
    assert!(text(&b, "#text").await.contains("margins widen"));
    shot(&b, "06-document").await;
    // The browser downloads it as the file it was, with the name it had.
    click(&b, "#download").await;
    let bytes = downloaded(driver.downloads.path(), "forecast.txt").await;
    assert!(String::from_utf8_lossy(&bytes).contains("margins widen in Q3"));
    assert_eq!(
        bytes,
        s.download(&s.admin_key, &id).await,
        "the API's bytes"
    );
    let session = b.get_named_cookie("inlet_session").await.unwrap();
    assert_eq!(session.http_only(), Some(true));

    // Create a tag; ingestion's own tags are listed beside it, and each
    // leads to its documents.
    b.goto(&format!("{base}/console/tags")).await.unwrap();
    type_into(&b, "#tag_name", "q3-margins").await;
    click(&b, "#create-tag").await;
    let tags = text_until(&b, "#tag-list", |t| t.contains("q3-margins")).await;
    assert!(tags.contains("label:Morning desk"), "{tags}");
    shot(&b, "10-tags").await;
    b.find(Locator::LinkText("label:Morning desk"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    text_until(&b, "#documents", |t| t.contains("forecast.txt")).await;

    // Edit the connector: a description shows on its page.
    b.goto(&connector_page).await.unwrap();
    click(&b, "a.button[href$='/edit']").await;
    type_into(&b, "#description", "Calls from the morning desk").await;
    shot(&b, "11-edit").await;
    click(&b, "#save").await;
    text_until(&b, "main", |t| t.contains("Calls from the morning desk")).await;

    // Pause, resume, archive.
    b.goto(&connector_page).await.unwrap();
    click(&b, "#pause").await;
    text_until(&b, "#state", |t| t == "paused").await;
    click(&b, "#resume").await;
    text_until(&b, "#state", |t| t == "active").await;
    shot(&b, "07-connector").await;
    click(&b, "#archive").await;
    text_until(&b, "#state", |t| t == "archived").await;

    // Hard delete, with a confirmation naming what goes.
    click(&b, "#delete").await;
    let named = text(&b, "#to-delete").await;
    assert!(
        named.contains("Morning desk") && named.contains("2 documents"),
        "{named}"
    );
    shot(&b, "08-delete-confirmation").await;
    click(&b, "#confirm-delete").await;
    text_until(&b, "[role=status]", |t| t.contains("Hard delete accepted")).await;

    // Sign out, and be refused: in the browser, and with the old cookie.
    click(&b, "#sign-out").await;
    at_path(&b, "/console/sign-in").await;
    b.goto(&format!("{base}/console/documents")).await.unwrap();
    assert_eq!(path(&b).await, "/console/sign-in");
    let replayed = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/console/documents"))
        .header("cookie", format!("inlet_session={}", session.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(replayed.status(), 303, "the ended session is refused");
    assert_eq!(replayed.headers()["location"], "/console/sign-in");
    b.close().await.unwrap();
    drop(driver);
}
