//! The web console end to end in headless Chromium (Debian's `chromium` and
//! `chromium-driver`, which scripts/test installs): a real `klaxon run` with two firing
//! alerts, the page loaded in the browser, one alert acknowledged with its button, and the
//! page showing it changed state. Chromium is driven through ChromeDriver's W3C WebDriver
//! HTTP API. The screenshot goes to `target/console.png`, and with
//! `KLAXON_UPDATE_SCREENSHOT=1` to `docs/console.png` too.
//!
//! Without Chromium or ChromeDriver the test fails, saying what to install, unless
//! `KLAXON_SKIP_BROWSER=1`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::binary::{klaxon, Klaxon};
use crate::support::http::closed_port;
use crate::support::{wait_until, write};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The API token in the test's klaxon.yaml (32 characters).
const TOKEN: &str = "console-browser-test-token-0123x";

/// Whether the browser is here; fails the test, saying what to install, when it is not
/// (unless `KLAXON_SKIP_BROWSER=1`).
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var("KLAXON_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!(
            "note: console_browser skipped (KLAXON_SKIP_BROWSER=1): {} not found",
            missing.join(" and ")
        );
        return false;
    }
    panic!(
        "{} not found: the console's browser test needs Debian's chromium and chromium-driver \
         (`apt-get install chromium chromium-driver`; scripts/test installs them), or set \
         KLAXON_SKIP_BROWSER=1 to skip it",
        missing.join(" and ")
    );
}

/// A small blocking HTTP client (reqwest here is async only).
struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
            client: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// The status and body of one request, or why it could not be made.
    fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), String> {
        self.rt.block_on(async {
            let mut request = self.client.request(method.clone(), url);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request
                .send()
                .await
                .map_err(|e| format!("{method} {url}: {e}"))?;
            let status = response.status().as_u16();
            let text = response
                .text()
                .await
                .map_err(|e| format!("{method} {url}: {e}"))?;
            Ok((status, text))
        })
    }

    /// `GET url`, which must answer 200 with JSON.
    fn get_json(&self, url: &str) -> Result<Value, String> {
        match self.send(Method::GET, url, None)? {
            (200, body) => {
                serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body}"))
            }
            (status, body) => Err(format!("GET {url}: {status} {body}")),
        }
    }
}

/// A ChromeDriver with one headless Chromium session. Dropping it (even while a failed
/// assertion unwinds) ends the session, then kills ChromeDriver's whole process group, so
/// no browser outlives the test.
struct Browser {
    http: Http,
    driver: Child,
    /// `http://127.0.0.1:PORT` of ChromeDriver.
    base: String,
    session: Option<String>,
    log: PathBuf,
}

impl Browser {
    /// Starts ChromeDriver and a Chromium session with its profile in `profile`;
    /// ChromeDriver's output goes to `log`.
    fn start(profile: &Path, log: &Path) -> Browser {
        let port = closed_port();
        let out = File::create(log).unwrap();
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // Its own process group: Chromium joins it, and the guard kills them all by its id.
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let driver = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("start {CHROMEDRIVER}: {e}"));
        let mut browser = Browser {
            http: Http::new(),
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: None,
            log: log.to_path_buf(),
        };
        let status = format!("{}/status", browser.base);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(v) = browser.http.get_json(&status) {
                if v["value"]["ready"] == true {
                    break;
                }
            }
            if let Some(exit) = browser.driver.try_wait().unwrap() {
                panic!("chromedriver exited at start ({exit})");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready after 20s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": CHROMIUM,
                        "args": [
                            "--headless",
                            "--no-sandbox",
                            "--disable-gpu",
                            "--disable-quic",
                            "--no-first-run",
                            "--disable-background-networking",
                            "--disable-component-update",
                            "--disable-sync",
                            "--disable-dev-shm-usage",
                            format!("--user-data-dir={}", profile.display()),
                            "--window-size=1280,1100",
                        ],
                    },
                },
            },
        });
        let created = browser.call(Method::POST, "/session", Some(capabilities));
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session id in {created}"))
            .to_string();
        browser.session = Some(id);
        browser
    }

    /// One WebDriver command; its `value`. Fails the test on a WebDriver error.
    fn call(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = match &self.session {
            Some(id) if path != "/session" => format!("{}/session/{id}{path}", self.base),
            _ => format!("{}{path}", self.base),
        };
        let (status, text) = self
            .http
            .send(method.clone(), &url, body.as_ref())
            .unwrap_or_else(|e| panic!("{e}"));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {url}: {status}, not JSON ({e}): {text}"));
        assert_eq!(status, 200, "{method} {url}: {}", v["value"]);
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.call(Method::POST, "/url", Some(json!({ "url": url })));
    }

    fn url(&self) -> String {
        self.call(Method::GET, "/url", None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn refresh(&self) {
        self.call(Method::POST, "/refresh", Some(json!({})));
    }

    /// Element ids matching `css`, within the element `within` or the whole page.
    fn find_all(&self, within: Option<&str>, css: &str) -> Vec<String> {
        let path = match within {
            Some(el) => format!("/element/{el}/elements"),
            None => "/elements".to_string(),
        };
        let found = self.call(
            Method::POST,
            &path,
            Some(json!({ "using": "css selector", "value": css })),
        );
        found
            .as_array()
            .unwrap()
            .iter()
            // A W3C element reference is an object with one key, the element id its value.
            .map(|r| {
                r.as_object()
                    .and_then(|o| o.values().next())
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("not an element reference: {r}"))
                    .to_string()
            })
            .collect()
    }

    /// The one element matching `css` (fails if there is none or several).
    fn find(&self, within: Option<&str>, css: &str) -> String {
        let mut all = self.find_all(within, css);
        assert_eq!(all.len(), 1, "{} elements match `{css}`", all.len());
        all.pop().unwrap()
    }

    fn text(&self, el: &str) -> String {
        self.call(Method::GET, &format!("/element/{el}/text"), None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn click(&self, el: &str) {
        self.call(
            Method::POST,
            &format!("/element/{el}/click"),
            Some(json!({})),
        );
    }

    /// Types `text` into an input.
    fn type_text(&self, el: &str, text: &str) {
        self.call(
            Method::POST,
            &format!("/element/{el}/value"),
            Some(json!({ "text": text })),
        );
    }

    fn title(&self) -> String {
        self.call(Method::GET, "/title", None)
            .as_str()
            .unwrap()
            .to_string()
    }

    fn source(&self) -> String {
        self.call(Method::GET, "/source", None)
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The viewport as a PNG.
    fn screenshot(&self) -> Vec<u8> {
        let b64 = self.call(Method::GET, "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(id) = self.session.take() {
            let _ = self
                .http
                .send(Method::DELETE, &format!("{}/session/{id}", self.base), None);
        }
        // The group ChromeDriver leads (its id is ChromeDriver's): it and any Chromium left.
        if let Ok(pgid) = i32::try_from(self.driver.id()) {
            // SAFETY: kill(2) on a process group this test started; no memory is involved.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "chromedriver output (last lines):\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// klaxon.yaml with the HTTP server on `port`, the rule and a log with two ERROR lines,
/// one per order (so two alerts).
fn scene(port: u16) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"{d}/logs/app.log\"]\n    format: json\n    poll_interval: 50ms\n\
             channels:\n  ops-console:\n    type: console\n\
             rules: {d}/rules\nstate_dir: {d}/state\nshutdown_timeout: 2s\n\
             server:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n  public_url: http://127.0.0.1:{port}\n"
        ),
    );
    write(
        &dir.path().join("rules/order-errors.yaml"),
        "name: order-errors\nsource: app\nquery: 'level:ERROR'\ntype: any\ngroup_by: [order_id]\n\
         severity: error\nnotify: [ops-console]\n",
    );
    write(
        &dir.path().join("logs/app.log"),
        "{\"level\":\"INFO\",\"service\":\"checkout\",\"order_id\":\"A-1000\",\"msg\":\"order placed\"}\n\
         {\"level\":\"ERROR\",\"service\":\"checkout\",\"order_id\":\"A-1001\",\"msg\":\"payment gateway timeout after 30s\"}\n\
         {\"level\":\"ERROR\",\"service\":\"checkout\",\"order_id\":\"B-2002\",\"msg\":\"inventory service returned 503\"}\n",
    );
    dir
}

/// The open alerts `GET /api/alerts` lists: key → (id, state).
fn open_alerts(http: &Http, base: &str) -> Vec<(String, u64, String)> {
    let Ok(v) = http.get_json(&format!("{base}/api/alerts")) else {
        return Vec::new();
    };
    let mut alerts: Vec<(String, u64, String)> = v["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                a["key"].as_str().unwrap_or_default().to_string(),
                a["id"].as_u64().unwrap_or_default(),
                a["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    alerts.sort();
    alerts
}

#[test]
fn an_alert_acknowledged_in_the_browser_console_changes_state_on_the_page() {
    if !browser_installed() {
        return;
    }
    let started = Instant::now();
    let port = closed_port();
    let dir = scene(port);
    let base = format!("http://127.0.0.1:{port}");
    let http = Http::new();

    // The config's server, not the support helper's `KLAXON_LISTEN=none`.
    let mut cmd = klaxon();
    cmd.env_remove("KLAXON_LISTEN")
        .args(["run", "-c"])
        .arg(dir.path().join("klaxon.yaml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    let klaxon = Klaxon::spawn(&mut cmd);

    let mut alerts = Vec::new();
    wait_until(
        "two firing alerts in GET /api/alerts",
        Duration::from_secs(20),
        || {
            alerts = open_alerts(&http, &base);
            alerts.len() == 2 && alerts.iter().all(|a| a.2 == "firing")
        },
    );
    let (acked_key, acked, _) = alerts[0].clone();
    let (other_key, other, _) = alerts[1].clone();
    assert_eq!(acked_key, "order_id=A-1001");
    assert_eq!(other_key, "order_id=B-2002");

    let browser = Browser::start(
        &dir.path().join("chromium"),
        &dir.path().join("chromedriver.log"),
    );
    browser.goto(&format!("{base}/"));
    assert_eq!(browser.title(), "Klaxon");
    let source = browser.source();
    assert!(
        !source.to_ascii_lowercase().contains("<script"),
        "the console runs no script:\n{source}"
    );
    let row = |id: u64| browser.find(None, &format!("tr.alert[data-alert-id=\"{id}\"]"));
    let state_of = |id: u64| browser.text(&browser.find(Some(&row(id)), "td.state"));
    assert_eq!(state_of(acked), "firing");
    assert_eq!(state_of(other), "firing");

    // Signed out, the console only reads: no button changes anything.
    assert!(browser.find_all(None, "form.ack button").is_empty());
    assert!(browser.find_all(None, "form.resolve button").is_empty());

    // Sign in with the API token (a session cookie), then acknowledge as "alice".
    let token_input = browser.find(None, "#login input[name=\"token\"]");
    browser.type_text(&token_input, TOKEN);
    browser.click(&browser.find(None, "#login button"));
    wait_until("signed in", Duration::from_secs(10), || {
        !browser.find_all(None, "form.ack button").is_empty()
    });
    let name = browser.find(Some(&row(acked)), "form.ack input[name=\"by\"]");
    browser.type_text(&name, "alice");
    let button = browser.find(Some(&row(acked)), "form.ack button");
    assert_eq!(browser.text(&button), "Acknowledge");
    browser.click(&button);
    wait_until(
        "the redirect back to the console",
        Duration::from_secs(10),
        || browser.url().contains("/?done="),
    );
    // The server waits for the pipeline to apply the acknowledgement before it redirects;
    // should it have answered "queued" instead, the page is reloaded until it shows.
    let mut reloads = 0;
    wait_until(
        "the console to show the alert acknowledged",
        Duration::from_secs(10),
        || {
            if state_of(acked).starts_with("acknowledged") {
                return true;
            }
            reloads += 1;
            browser.refresh();
            false
        },
    );
    if reloads > 0 {
        eprintln!("note: the console showed the acknowledgement only after {reloads} reload(s)");
    }
    assert_eq!(state_of(acked), "acknowledged by alice");
    let flash = browser.text(&browser.find(None, "#flash"));
    assert_eq!(flash, format!("alert {acked} acknowledged"));
    assert!(
        browser
            .find_all(Some(&row(acked)), "form.ack button")
            .is_empty(),
        "an acknowledged alert has no Acknowledge button"
    );
    assert_eq!(state_of(other), "firing");
    assert_eq!(
        browser.find_all(Some(&row(other)), "form.ack button").len(),
        1,
        "the other alert can still be acknowledged"
    );

    // The API agrees.
    let a = http
        .get_json(&format!("{base}/api/alerts/{acked}"))
        .unwrap();
    assert_eq!(a["alert"]["state"], "acknowledged", "{a}");
    assert_eq!(a["alert"]["acknowledged_by"], "alice", "{a}");
    let o = http
        .get_json(&format!("{base}/api/alerts/{other}"))
        .unwrap();
    assert_eq!(o["alert"]["state"], "firing", "{o}");

    let png = browser.screenshot();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "the screenshot is not a PNG"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(root.join("target")).unwrap();
    std::fs::write(root.join("target/console.png"), &png).unwrap();
    if std::env::var("KLAXON_UPDATE_SCREENSHOT").is_ok_and(|v| v == "1") {
        std::fs::write(root.join("docs/console.png"), &png).unwrap();
        eprintln!("wrote docs/console.png");
    }
    drop(browser);
    drop(klaxon);
    eprintln!("console_browser took {:?}", started.elapsed());
}
