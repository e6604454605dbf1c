//! A headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`, which `scripts/test`
//! and `scripts/bench` install when missing), for the dashboard's tests and benchmark.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::json;

/// How often a condition on the page is looked at again.
const POLL: Duration = Duration::from_millis(50);

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A browser session; the driver and its browser end with it.
pub struct Browser {
    driver: Child,
    pub client: Client,
}

impl Browser {
    /// Starts chromedriver on a free port and a headless Chromium session of `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: scripts/test installs chromium and chromium-driver"
            );
        }
        let port = super::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn chromedriver");
        let mut driver = Driver(Some(driver));
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"), "--lang=en-US"],
            }
        });
        let capabilities = capabilities.as_object().cloned().expect("capabilities");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let builder =
                ClientBuilder::rustls().expect("TLS roots").capabilities(capabilities.clone()).connect(&url).await;
            match builder {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => panic!("chromedriver started no session: {error}"),
                Err(_) => tokio::time::sleep(POLL).await,
            }
        };
        let driver = driver.0.take().expect("chromedriver");
        Self { driver, client }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|error| panic!("open {url}: {error}"));
    }

    /// The first element matching `css`, waiting up to 10 s for it.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|error| panic!("no element {css}: {error}"))
    }

    /// The text of `css` once it contains `text`, waiting up to `timeout`.
    pub async fn wait_for_text(&self, css: &str, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let mut seen = String::new();
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                seen = element.text().await.unwrap_or_default();
            }
            if seen.contains(text) {
                return seen;
            }
            assert!(Instant::now() < deadline, "{css} never showed {text:?} within {timeout:?}; it shows {seen:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap_or_else(|error| panic!("click {css}: {error}"));
    }

    /// Replaces the value of the input `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let input = self.find(css).await;
        input.clear().await.unwrap_or_else(|error| panic!("clear {css}: {error}"));
        input.send_keys(text).await.unwrap_or_else(|error| panic!("type into {css}: {error}"));
    }

    /// Saves a screenshot as `<name>.png` under `target/screenshots/`, and under `docs/screenshots/` with
    /// `UPDATE_SCREENSHOTS=1` (how the README's pictures are made).
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        // This crate's directory is `common/` in the workspace.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
        let mut directories = vec![root.join("target/screenshots")];
        if std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1") {
            directories.push(root.join("docs/screenshots"));
        }
        for directory in &directories {
            std::fs::create_dir_all(directory).expect("screenshot directory");
            std::fs::write(directory.join(format!("{name}.png")), &png).expect("write screenshot");
        }
        directories[0].join(format!("{name}.png"))
    }

    /// Ends the session (Chromium exits) and the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The driver process until a session runs in it.
struct Driver(Option<Child>);

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
