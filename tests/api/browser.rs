//! A headless Chromium driven over WebDriver, for the training UI's tests.
//!
//! Needs Debian's `chromium` and `chromium-driver`; when they are missing and the tests run as
//! root (as CI does), they are installed with apt-get first. Screenshots go to
//! `target/ui-screenshots/`.

use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// How long a page may take to show what a test waits for (real time: the pages, not the
/// virtual clock; generous because CI shares two cores with every other test).
const PATIENCE: Duration = Duration::from_secs(30);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One apt-get at a time, and only once per run.
static INSTALL: Mutex<Option<Result<(), String>>> = Mutex::new(None);

fn ensure_installed() -> Result<(), String> {
    let mut done = INSTALL.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(result) = done.as_ref() {
        return result.clone();
    }
    let result = if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        Ok(())
    } else {
        install()
    };
    *done = Some(result.clone());
    result
}

fn install() -> Result<(), String> {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        return Err(
            "the browser tests need Debian's chromium and chromium-driver \
                    (apt-get install chromium chromium-driver); run them as root to have \
                    them installed"
                .into(),
        );
    }
    for args in [
        &["update", "-qq"][..],
        &["install", "-y", "-qq", "chromium", "chromium-driver"][..],
    ] {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("apt-get: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "apt-get {} failed:\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// A Chromium session; the driver process ends with it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    name: &'static str,
}

impl Browser {
    /// Starts chromedriver on a free port and opens a headless session. `name` names the
    /// screenshots.
    pub async fn start(name: &'static str) -> Browser {
        tokio::task::spawn_blocking(ensure_installed)
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{e}"));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        // chromedriver says when it listens; read up to that line instead of polling.
        let stdout = driver.stdout.take().unwrap();
        let (listening_tx, listening) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            for line in lines.by_ref() {
                if line.unwrap_or_default().contains("started successfully") {
                    let _ = listening_tx.send(());
                    break;
                }
            }
            // Keep draining so the driver never blocks on a full pipe.
            for _ in lines {}
        });
        let up = tokio::task::spawn_blocking(move || listening.recv_timeout(PATIENCE))
            .await
            .unwrap();
        assert!(up.is_ok(), "chromedriver did not start within {PATIENCE:?}");
        let profile = std::env::temp_dir().join(format!(
            "lifecycle-sim-chromium-{}-{port}",
            std::process::id()
        ));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--disable-quic",
                    "--window-size=1600,1000", "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => Browser {
                client,
                driver,
                profile,
                name,
            },
            Err(e) => {
                let _ = driver.kill();
                panic!("no WebDriver session: {e}");
            }
        }
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.unwrap();
        self.wait_css("body[data-ready='true']").await;
    }

    /// Waits until an element matches the XPath `xpath`.
    pub async fn wait(&self, xpath: &str) -> fantoccini::elements::Element {
        self.wait_for(Locator::XPath(xpath), xpath).await
    }

    /// Waits until an element matches the CSS selector `css`.
    pub async fn wait_css(&self, css: &str) -> fantoccini::elements::Element {
        self.wait_for(Locator::Css(css), css).await
    }

    /// Waits for `locator`; a lookup cut short by the page navigating is asked again.
    async fn wait_for(&self, locator: Locator<'_>, what: &str) -> fantoccini::elements::Element {
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.client.wait().at_most(left).for_element(locator).await {
                Ok(e) => return e,
                Err(e) if !matches!(e, CmdError::WaitTimeout) && !left.is_zero() => continue,
                Err(e) => panic!(
                    "the page never showed {what}: {e}\npage text:\n{}",
                    self.text().await
                ),
            }
        }
    }

    /// Waits for the element `xpath` and clicks it; a page redrawn between the two is retried.
    pub async fn click(&self, xpath: &str) {
        let mut last = None;
        for _ in 0..10 {
            let element = self.wait(xpath).await;
            match element.click().await {
                Ok(()) => return,
                Err(e) => last = Some(e),
            }
        }
        panic!("could not click {xpath}: {last:?}");
    }

    /// Clicks the enabled button whose text is `label`.
    pub async fn press(&self, label: &str) {
        self.click(&format!(
            "//button[normalize-space(.)={label:?} and not(@disabled)]"
        ))
        .await;
    }

    /// Waits until the page's text contains `text`.
    pub async fn wait_text(&self, text: &str) {
        self.wait(&format!("//body[contains(., {text:?})]")).await;
    }

    /// Scrolls the element `css` to just below the (sticky) trainer controls.
    pub async fn show(&self, css: &str) {
        self.client
            .execute(
                "document.querySelector(arguments[0]).scrollIntoView({block: 'start'});
                 window.scrollBy(0, -document.getElementById('trainer').offsetHeight - 12);",
                vec![json!(css)],
            )
            .await
            .unwrap();
    }

    /// Everything the page shows as text.
    pub async fn text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("(no body: {e})"),
        }
    }

    /// Saves a screenshot as `target/ui-screenshots/<name>-<step>.png` and returns its path.
    pub async fn screenshot(&self, step: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{}-{step}.png", self.name));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test still ends its driver (and with it the browser).
        let _ = self.driver.kill();
    }
}

/// `target/ui-screenshots`: the CI artifacts of the browser tests.
pub fn screenshot_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
}
