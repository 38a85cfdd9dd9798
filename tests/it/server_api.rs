//! Issue #13, operating Klaxon over real HTTP: every endpoint of a running `klaxon run`,
//! the bearer token, acknowledge links (forged, moved to another alert, expired, opened
//! with GET), a metrics scrape parsed by the Prometheus project's own OpenMetrics parser
//! with its series moving, `klaxon status`, and the warnings about silent failures.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support::binary::{klaxon, Klaxon};
use crate::support::files::append;
use crate::support::http::{closed_port, Recorder};
use crate::support::{wait_until, write};

const TOKEN: &str = "t0ken-for-tests-0123456789abcdef";
const ACK_SECRET: &str = "ack-secret-for-tests-0123456789ab";

/// `klaxon run -c klaxon.yaml` in `dir`, with the server its config asks for (the test
/// harness's `KLAXON_LISTEN=none` removed).
fn run_serving(dir: &Path) -> Klaxon {
    Klaxon::spawn(
        klaxon()
            .env_remove("KLAXON_LISTEN")
            .current_dir(dir)
            .args(["run", "-c", "klaxon.yaml"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null()),
    )
}

/// A running Klaxon with its server on a port of its own.
struct Scene {
    dir: tempfile::TempDir,
    base: String,
    klaxon: Klaxon,
    client: reqwest::Client,
}

/// `channels` is YAML under `channels:`; the rule `order-errors` alerts per `order_id` on
/// `level:ERROR` to every channel named in `notify`.
fn start(channels: &str, notify: &str, source_extra: &str, lines: &[&str]) -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    let base = format!("http://127.0.0.1:{port}");
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"logs/*.log\"]\n    poll_interval: 50ms\n{source_extra}\
             channels:\n{channels}rules: rules\nstate_dir: state\nshutdown_timeout: 2s\n\
             grouping:\n  group_by: [rule, order_id]\n\
             server:\n  listen: 127.0.0.1:{port}\n  token: {TOKEN}\n  public_url: {base}\n  ack_secret: {ACK_SECRET}\n"
        ),
    );
    write(
        &dir.path().join("rules/order-errors.yaml"),
        &format!(
            "name: order-errors\nsource: app\nquery: 'level:ERROR'\ntype: any\ngroup_by: [order_id]\nrealert: 0s\nnotify: [{notify}]\n"
        ),
    );
    let log = dir.path().join("logs/app.log");
    write(
        &log,
        &lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    );
    let klaxon = run_serving(dir.path());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let scene = Scene {
        dir,
        base,
        klaxon,
        client,
    };
    let health = format!("{}/healthz", scene.base);
    wait_until("the server answers", Duration::from_secs(20), || {
        std::net::TcpStream::connect(
            health
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap(),
        )
        .is_ok()
    });
    scene
}

/// [`start`] with one console channel `out`, reading `lines`.
fn start_console(source_extra: &str, lines: &[String]) -> Scene {
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    start("  out:\n    type: console\n", "out", source_extra, &refs)
}

impl Scene {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap()
    }

    /// A changing request, with `token` as the bearer token (or none).
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let (status, headers) = (r.status().as_u16(), r.headers().clone());
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
            headers,
        )
    }

    async fn alerts(&self, state: &str) -> Vec<Value> {
        self.get_json(&format!("/api/alerts?state={state}")).await["alerts"]
            .as_array()
            .unwrap()
            .clone()
    }

    async fn alert(&self, id: u64) -> Value {
        self.get_json(&format!("/api/alerts/{id}")).await
    }

    /// Waits (asynchronously) until `done` holds.
    async fn wait<F, Fut>(&self, what: &str, mut done: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !done().await {
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}; klaxon said:\n{}",
                self.klaxon.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The samples of a scrape, parsed by the Prometheus client library's OpenMetrics parser.
    async fn scrape(&self) -> Vec<Value> {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(
            content_type.starts_with("application/openmetrics-text"),
            "{content_type}"
        );
        parse_openmetrics(&r.text().await.unwrap())
    }
}

fn parse_openmetrics(text: &str) -> Vec<Value> {
    use std::io::Write;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/it/support/openmetrics_parse.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (scripts/test installs prometheus-client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the scrape: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// The value of the sample `name` with exactly these labels among `labels`' keys.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s["name"] == name
                && labels
                    .iter()
                    .all(|(k, v)| s["labels"][k].as_str() == Some(v))
        })
        .and_then(|s| s["value"].as_f64())
}

/// An acknowledge token for `id`, made at `issued` and expiring at `expires`, signed with
/// `key`, as Klaxon makes them.
fn token(key: &[u8], id: u64, issued: i64, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(b"klaxon-ack-link-v2");
    mac.update(&id.to_be_bytes());
    mac.update(&issued.to_be_bytes());
    mac.update(&expires.to_be_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{id}.{issued}.{expires}.{sig}")
}

/// The active warning of `kind` in a status, if any.
fn warning(status: &Value, kind: &str) -> Option<Value> {
    status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["kind"] == kind)
        .cloned()
}

fn error_line(order: &str) -> String {
    json!({"level": "ERROR", "msg": "order_timeout", "order_id": order}).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_over_http_with_the_token_and_acknowledge_links() {
    let hook = Recorder::start("ok").await;
    let broken = Recorder::start("no").await;
    broken.reply(400, &[], "bad request");
    let channels = format!(
        "  hook:\n    type: webhook\n    url: {}\n  broken:\n    type: webhook\n    url: {}\n",
        hook.url("/hook"),
        broken.url("/broken")
    );
    let (a, b) = (error_line("A-1"), error_line("B-2"));
    let s = start(&channels, "hook, broken", "    format: json\n", &[&a, &b]);

    // Health and readiness (503 until the pipeline has started).
    assert_eq!(s.get("/healthz").await, (200, "ok\n".to_string()));
    s.wait("readiness", || async { s.get("/readyz").await.0 == 200 })
        .await;
    let ready = s.get_json("/readyz").await;
    assert_eq!(ready["ready"], true, "{ready}");
    assert_eq!(ready["sources"][0]["name"], "app");

    // Both alerts fire and reach the hook, each with an acknowledge link.
    s.wait("two firing alerts", || async {
        s.alerts("firing").await.len() == 2
    })
    .await;
    wait_until("both messages", Duration::from_secs(20), || {
        hook.requests().len() >= 2
    });
    let messages: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    let link_of = |order: &str| -> (u64, String) {
        let m = messages
            .iter()
            .find(|m| m["key"]["order_id"] == order)
            .unwrap_or_else(|| panic!("no message for {order}: {messages:#?}"));
        let url = m["ack_url"]
            .as_str()
            .expect("ack_url in the message")
            .to_string();
        assert!(url.starts_with(&format!("{}/ack/", s.base)), "{url}");
        (m["id"].as_u64().unwrap(), url)
    };
    let (id_a, link_a) = link_of("A-1");
    let (id_b, link_b) = link_of("B-2");
    assert_ne!(id_a, id_b);

    // Listing, filtering, one alert with its history.
    assert_eq!(s.alerts("open").await.len(), 2);
    assert_eq!(s.alerts("acknowledged").await.len(), 0);
    let (status, body) = s.get("/api/alerts?state=bogus").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = s.get("/api/alerts/999999").await;
    assert_eq!(status, 404);
    let one = s.alert(id_a).await;
    assert_eq!(one["alert"]["state"], "firing");
    assert_eq!(one["alert"]["key"], "order_id=A-1");
    assert!(
        one["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "fired"),
        "{one}"
    );

    // Changing endpoints refuse a missing or wrong token, and change nothing.
    use reqwest::Method;
    let changes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::POST, format!("/api/alerts/{id_a}/ack"), None),
        (Method::POST, format!("/api/alerts/{id_a}/resolve"), None),
        (
            Method::POST,
            "/api/silences".into(),
            Some(json!({"matchers": ["rule = order-errors"], "duration": "1h", "comment": "x"})),
        ),
        (Method::DELETE, "/api/silences/1".into(), None),
        (Method::POST, "/api/dlq/retry".into(), None),
        (Method::POST, "/api/dlq/1/retry".into(), None),
        (Method::DELETE, "/api/dlq/1".into(), None),
    ];
    for (method, path, body) in &changes {
        for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
            let (status, answer, headers) = s.send(method.clone(), path, token, body.clone()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}: {answer}");
            assert!(headers.contains_key("www-authenticate"));
        }
    }
    assert_eq!(s.alerts("firing").await.len(), 2, "nothing changed");
    assert!(s.get_json("/api/silences").await["silences"]
        .as_array()
        .unwrap()
        .is_empty());

    // The acknowledge link: GET only shows a page and changes nothing.
    let token_b = link_b.rsplit('/').next().unwrap().to_string();
    let (status, page) = s.get(&format!("/ack/{token_b}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("Acknowledge alert") && page.contains("method=\"post\""),
        "{page}"
    );
    assert!(!page.contains("<script"), "no script on the page");
    assert_eq!(
        s.alert(id_b).await["alert"]["state"],
        "firing",
        "GET acknowledged nothing"
    );

    // Forged: another alert's id on B's token; a tampered signature; a later expiry; a
    // token signed with another key (all 403); an expired one signed with the real key (410).
    let (_, rest) = token_b.split_once('.').unwrap();
    let parts: Vec<&str> = rest.splitn(3, '.').collect();
    let (issued, expiry, sig) = (parts[0], parts[1], parts[2]);
    let now = chrono::Utc::now().timestamp();
    let refused = [
        format!("{id_a}.{rest}"),
        // One character of the signature changed (its first: all six bits count).
        format!(
            "{id_b}.{issued}.{expiry}.{}{}",
            if sig.starts_with('A') { 'B' } else { 'A' },
            &sig[1..]
        ),
        format!("{id_b}.{issued}.{}.{sig}", now + 30 * 86_400),
        token(b"another key entirely, 32 bytes!!", id_b, now, now + 3600),
        "not-a-token".into(),
    ];
    let expired = token(ACK_SECRET.as_bytes(), id_b, now - 7200, now - 60);
    for (bad, code) in refused.iter().map(|t| (t, 403)).chain([(&expired, 410)]) {
        let r = s
            .client
            .post(s.url(&format!("/ack/{bad}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("by=mallory")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        assert_eq!(status, code, "{bad}: {text}");
        let (status, _) = s.get(&format!("/ack/{bad}")).await;
        assert_eq!(status, code, "GET {bad}");
    }
    let r = s
        .client
        .post(s.url(&format!("/ack/{expired}")))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    assert!(text.contains("expired"), "{text}");
    assert_eq!(
        s.alerts("firing").await.len(),
        2,
        "no refused link acknowledged anything"
    );

    // The genuine link's POST acknowledges its own alert only.
    let r = s
        .client
        .post(&link_b)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("by=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("acknowledged"), "{text}");
    let b_now = s.alert(id_b).await;
    assert_eq!(b_now["alert"]["state"], "acknowledged");
    assert!(b_now["alert"]["acknowledged_by"]
        .as_str()
        .unwrap()
        .contains("alice"));
    assert_eq!(s.alert(id_a).await["alert"]["state"], "firing");

    // Acknowledge and resolve A through the API, with the token.
    let (status, answer, _) = s
        .send(
            Method::POST,
            &format!("/api/alerts/{id_a}/ack"),
            Some(TOKEN),
            Some(json!({"by": "bob"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["alert"]["state"], "acknowledged", "{answer}");
    assert_eq!(answer["alert"]["acknowledged_by"], "bob");
    let (status, answer, _) = s
        .send(
            Method::POST,
            &format!("/api/alerts/{id_a}/resolve"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["alert"]["state"], "resolved", "{answer}");
    let (status, _, _) = s
        .send(Method::POST, "/api/alerts/424242/ack", Some(TOKEN), None)
        .await;
    assert_eq!(status, 404);
    // Refused as things stand: acknowledging a resolved alert, resolving it again.
    for action in ["ack", "resolve"] {
        let (status, answer, _) = s
            .send(
                Method::POST,
                &format!("/api/alerts/{id_a}/{action}"),
                Some(TOKEN),
                None,
            )
            .await;
        assert_eq!(status, 409, "{action}: {answer}");
        assert_eq!(answer["alert"]["state"], "resolved");
    }
    // A's link, used after A was resolved, does not bring it back or touch B.
    let r = s.client.post(&link_a).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(s.alert(id_a).await["alert"]["state"], "resolved");

    // Silences: add, refuse a bad one, read, expire.
    let (status, answer, _) = s
        .send(
            Method::POST,
            "/api/silences",
            Some(TOKEN),
            Some(json!({"matchers": ["rule = order-errors", "order_id =~ C-.*"], "duration": "2h", "comment": "maintenance", "author": "ops"})),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    let silence = answer["id"].as_u64().unwrap();
    for bad in [
        json!({"matchers": [], "duration": "1h", "comment": "x"}),
        json!({"matchers": ["no operator"], "duration": "1h", "comment": "x"}),
        json!({"matchers": ["rule = x"], "comment": "x"}),
        json!({"matchers": ["rule = x"], "duration": "1h", "comment": " "}),
        json!({"matchers": ["rule = x"], "duration": "soon", "comment": "x"}),
    ] {
        let (status, answer, _) = s
            .send(
                Method::POST,
                "/api/silences",
                Some(TOKEN),
                Some(bad.clone()),
            )
            .await;
        assert_eq!(status, 400, "{bad}: {answer}");
        assert!(answer["error"].is_string());
    }
    let listed = s.get_json("/api/silences").await;
    assert_eq!(listed["silences"].as_array().unwrap().len(), 1, "{listed}");
    let one = s.get_json(&format!("/api/silences/{silence}")).await;
    assert_eq!(one["state"], "active");
    assert_eq!(one["matchers"][1], "order_id =~ C-.*");
    assert_eq!(one["author"], "ops");
    let (status, _, _) = s
        .send(
            Method::DELETE,
            &format!("/api/silences/{silence}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = s
        .send(
            Method::DELETE,
            &format!("/api/silences/{silence}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404, "already expired");
    assert!(s.get_json("/api/silences").await["silences"]
        .as_array()
        .unwrap()
        .is_empty());
    assert_eq!(
        s.get_json("/api/silences?all=true").await["silences"][0]["state"],
        "ended"
    );

    // Dead letters: the broken channel answered 400 (permanent) to both alerts (and to
    // the notices about them).
    s.wait("two dead letters", || async {
        s.get_json("/api/dlq").await["dead_letters"]
            .as_array()
            .unwrap()
            .len()
            >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let dead = s.get_json("/api/dlq").await;
    let n = dead["dead_letters"].as_array().unwrap().len() as u64;
    let first = dead["dead_letters"][0]["id"].as_i64().unwrap();
    assert_eq!(dead["dead_letters"][0]["channel"], "broken");
    let (status, answer, _) = s
        .send(
            Method::DELETE,
            &format!("/api/dlq/{first}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!((status, &answer["dropped"]), (200, &json!(1)), "{answer}");
    let (status, _, _) = s
        .send(
            Method::DELETE,
            &format!("/api/dlq/{first}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 404);
    broken.reply(200, &[], "ok");
    let before = broken.requests().len();
    let (status, answer, _) = s
        .send(Method::POST, "/api/dlq/retry", Some(TOKEN), None)
        .await;
    assert_eq!(
        (status, &answer["retried"]),
        (200, &json!(n - 1)),
        "{answer}"
    );
    wait_until(
        "the retried dead letter is delivered",
        Duration::from_secs(20),
        || broken.requests().len() > before,
    );
    s.wait("an empty dead-letter queue", || async {
        s.get_json("/api/dlq").await["dead_letters"]
            .as_array()
            .unwrap()
            .is_empty()
    })
    .await;

    // Metrics: strict OpenMetrics, the expected series present, and moving.
    let first_scrape = s.scrape().await;
    for (name, labels) in [
        ("klaxon_source_lines_read_total", vec![("source", "app")]),
        ("klaxon_source_lines_decoded_total", vec![("source", "app")]),
        ("klaxon_source_files", vec![("source", "app")]),
        (
            "klaxon_rule_events_matched_total",
            vec![("rule", "order-errors")],
        ),
        ("klaxon_alerts_raised_total", vec![("rule", "order-errors")]),
        ("klaxon_notifications_sent_total", vec![("channel", "hook")]),
        (
            "klaxon_notifications_dead_total",
            vec![("channel", "broken")],
        ),
        ("klaxon_outbox_depth", vec![("channel", "hook")]),
        ("klaxon_channel_breaker_open", vec![("channel", "hook")]),
        ("klaxon_build_info", vec![]),
        ("klaxon_start_time_seconds", vec![]),
    ] {
        assert!(
            sample(&first_scrape, name, &labels).is_some(),
            "{name} {labels:?} missing from {first_scrape:#?}"
        );
    }
    assert_eq!(
        sample(
            &first_scrape,
            "klaxon_notifications_dead_total",
            &[("channel", "broken")]
        ),
        Some(n as f64)
    );
    // Alerts by state are counted once a second.
    s.wait("the resolved alert counted", || async {
        let now = s.scrape().await;
        sample(
            &now,
            "klaxon_alerts",
            &[("rule", "order-errors"), ("state", "resolved")],
        ) == Some(1.0)
    })
    .await;
    let read = |samples: &[Value]| {
        sample(
            samples,
            "klaxon_source_lines_read_total",
            &[("source", "app")],
        )
        .unwrap()
    };
    let matched = |samples: &[Value]| {
        sample(
            samples,
            "klaxon_rule_events_matched_total",
            &[("rule", "order-errors")],
        )
        .unwrap()
    };
    assert_eq!(read(&first_scrape), 2.0);
    append(
        &s.dir.path().join("logs/app.log"),
        format!(
            "{}\n{}\n",
            json!({"level": "INFO", "msg": "fine"}),
            error_line("C-3")
        ),
    );
    s.wait("the metrics to move", || async {
        let now = s.scrape().await;
        read(&now) == 4.0
            && matched(&now) == 3.0
            && sample(
                &now,
                "klaxon_alerts",
                &[("rule", "order-errors"), ("state", "firing")],
            ) == Some(1.0)
    })
    .await;

    // The OpenAPI document names every route.
    let api = s.get_json("/api/openapi.json").await;
    assert!(api["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/status",
        "/api/alerts",
        "/api/alerts/{id}",
        "/api/alerts/{id}/ack",
        "/api/alerts/{id}/resolve",
        "/api/silences",
        "/api/silences/{id}",
        "/api/dlq",
        "/api/dlq/retry",
        "/api/dlq/{id}/retry",
        "/api/dlq/{id}",
        "/ack/{token}",
    ] {
        assert!(
            api["paths"][path].is_object(),
            "{path} not in the OpenAPI document"
        );
    }

    // `klaxon status` reads the same summary from the running instance.
    let out = klaxon()
        .env_remove("KLAXON_LISTEN")
        .current_dir(s.dir.path())
        .args(["status", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("ready") && text.contains("\napp\tyes\t1\t4\t"),
        "{text}"
    );
    assert!(
        text.contains("\nhook\t") && text.contains("\nbroken\t"),
        "{text}"
    );
    // The token never appears in what the server or the process says.

    // A fires again (a new incident, a second later than its link was made): the old
    // link is for the earlier firing and is refused; the new message carries a new link.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sent_before = hook.requests().len();
    append(
        &s.dir.path().join("logs/app.log"),
        format!("{}\n", error_line("A-1")),
    );
    s.wait("A firing again", || async {
        s.alert(id_a).await["alert"]["state"] == "firing"
    })
    .await;
    let r = s.client.post(&link_a).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 410);
    assert!(r.text().await.unwrap().contains("earlier firing"));
    assert_eq!(s.alert(id_a).await["alert"]["state"], "firing");
    wait_until("the new message about A", Duration::from_secs(20), || {
        hook.requests()[sent_before..]
            .iter()
            .any(|r| r.json()["key"]["order_id"] == "A-1" && r.json()["ack_url"].is_string())
    });
    let fresh = hook.requests()[sent_before..]
        .iter()
        .map(|r| r.json())
        .find(|m| m["key"]["order_id"] == "A-1" && m["ack_url"].is_string())
        .unwrap();
    let r = s
        .client
        .post(fresh["ack_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(s.alert(id_a).await["alert"]["state"], "acknowledged");

    let stderr = s.klaxon.stderr();
    assert!(
        !stderr.contains(TOKEN) && !stderr.contains(ACK_SECRET),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decoder_that_does_not_fit_is_warned_about_within_a_minute() {
    // nginx access lines read as JSON; the rule's word never appears, so the prefilter
    // skips every line undecoded: the warning must not depend on decoding.
    let lines: Vec<String> = (0..200)
        .map(|i| format!("10.0.0.{} - - [29/Nov/2026:10:00:00 +0000] \"GET /orders/{i} HTTP/1.1\" 200 512 \"-\" \"curl/8\"", i % 250))
        .collect();
    let s = start_console("    format: json\n    time_field: ts\n", &lines);
    let started = std::time::Instant::now();
    s.wait("the decode warning", || async {
        warning(&s.get_json("/api/status").await, "decode_failures")
            .is_some_and(|w| w["subject"] == "app")
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(60));
    let warning = warning(&s.get_json("/api/status").await, "decode_failures").unwrap();
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.contains("100% of lines") && message.contains("not json"),
        "{message}"
    );
    wait_until("the warning in the log", Duration::from_secs(5), || {
        s.klaxon
            .stderr()
            .contains("are not json: is `format: json` right?")
    });
    let scrape = s.scrape().await;
    assert_eq!(
        sample(&scrape, "klaxon_warnings", &[("kind", "decode_failures")]),
        Some(1.0)
    );
    let (_, console) = s.get("/").await;
    assert!(
        console.contains("are not json"),
        "the console shows warnings"
    );
}

#[test]
fn a_glob_matching_nothing_is_warned_about_by_check_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources:\n  app:\n    type: file\n    include: [\"/var/log/no-such-klaxon-dir/*.log\"]\n    poll_interval: 50ms\n\
             channels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\nserver:\n  listen: 127.0.0.1:{port}\n"
        ),
    );
    write(
        &dir.path().join("rules/r.yaml"),
        "name: r\nsource: app\nquery: x\ntype: any\nnotify: [out]\n",
    );
    let check = klaxon()
        .current_dir(dir.path())
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(check.status.success(), "a warning, not an error: {stderr}");
    assert!(
        stderr.contains("klaxon.yaml:4:14: warning: source `app`: `include` matches no file now (/var/log/no-such-klaxon-dir/*.log)"),
        "{stderr}"
    );
    let mut run = run_serving(dir.path());
    wait_until("the run warning", Duration::from_secs(20), || {
        run.stderr().contains("nothing is being read")
    });
    run.terminate();
    assert!(run.wait_timeout(Duration::from_secs(15)).is_some());
}

#[test]
fn server_settings_are_checked_and_a_taken_port_stops_run() {
    let dir = tempfile::tempdir().unwrap();
    let base = "sources:\n  app:\n    type: stdin\nchannels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\n";
    write(
        &dir.path().join("rules/r.yaml"),
        "name: r\nsource: app\nquery: x\ntype: any\nnotify: [out]\n",
    );
    let check = |server: &str| {
        write(&dir.path().join("klaxon.yaml"), &format!("{base}{server}"));
        let out = klaxon()
            .env("KLAXON_TEST_TOKEN", "sh0rtT0k")
            .current_dir(dir.path())
            .args(["check", "-c", "klaxon.yaml"])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = check("server:\n  listen: localhost\n");
    assert!(
        !ok && err
            .contains("klaxon.yaml:10:11: error: server.listen: `localhost` is not `host:port`"),
        "{err}"
    );
    let (ok, err) = check(
        "server:\n  listen: 127.0.0.1:1\n  public_url: ftp://x\n  token: ${KLAXON_TEST_TOKEN}\n",
    );
    assert!(
        !ok && err.contains("server.public_url") && err.contains("the API token is"),
        "{err}"
    );
    assert!(
        !err.contains("sh0rtT0k"),
        "the token's value is not printed: {err}"
    );
    let (ok, err) = check("server:\n  lisen: 127.0.0.1:1\n");
    assert!(!ok && err.contains("unknown field `lisen`"), "{err}");
    let (ok, err) = check("server: none\n");
    assert!(ok, "{err}");

    // A port already taken: `run` refuses to start without its server.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!("{base}server:\n  listen: 127.0.0.1:{port}\n"),
    );
    let out = klaxon()
        .env_remove("KLAXON_LISTEN")
        .current_dir(dir.path())
        .args(["run", "-c", "klaxon.yaml"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains(&format!(
            "cannot listen on 127.0.0.1:{port} (server.listen)"
        )),
        "{err}"
    );
    // `KLAXON_LISTEN=none` (as these tests run) turns it off: no port, no conflict.
    let out = klaxon()
        .current_dir(dir.path())
        .args(["run", "-c", "klaxon.yaml", "--once"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `klaxon status` without a running Klaxon says so and fails.
#[test]
fn status_without_a_running_klaxon_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let port = closed_port();
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "sources: {{}}\nrules: rules\nstate_dir: state\nserver:\n  listen: 127.0.0.1:{port}\n"
        ),
    );
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let out = klaxon()
        .env_remove("KLAXON_LISTEN")
        .current_dir(dir.path())
        .args(["status", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no running Klaxon answers at 127.0.0.1:{port}")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_time_field_and_a_silent_rule_are_warned_about() {
    // Lines the rule matches (so they are decoded) without the configured `ts`.
    let mut lines: Vec<String> = (0..40).map(|i| error_line(&format!("X-{i}"))).collect();
    lines.extend((0..40).map(|i| json!({"level": "INFO", "n": i}).to_string()));
    let s = start_console("    format: json\n    time_field: ts\n", &lines);
    s.wait("the time-field warning", || async {
        warning(&s.get_json("/api/status").await, "time_field_missing").is_some()
    })
    .await;
    let status = s.get_json("/api/status").await;
    let w = warning(&status, "time_field_missing").unwrap();
    assert!(
        w["message"]
            .as_str()
            .unwrap()
            .contains("have no usable `ts`"),
        "{w}"
    );
    assert!(
        warning(&status, "decode_failures").is_none(),
        "the lines are JSON: {status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_silent_while_its_source_is_busy_is_warned_about() {
    let lines: Vec<String> = (0..50)
        .map(|i| json!({"level": "INFO", "n": i}).to_string())
        .collect();
    let s = start_console("    format: json\n", &lines);
    // No ERROR line: `order-errors` matches nothing. With the default (24h) nothing is said.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let status = s.get_json("/api/status").await;
    assert!(
        status["warnings"].as_array().unwrap().is_empty(),
        "{status}"
    );
    drop(s);

    // With `rule_silent_after: 1s` and a busy source, the rule is warned about; a match
    // ends the warning.
    let mut s = start_console("    format: json\n", &lines);
    let config = s.dir.path().join("klaxon.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    s.klaxon.kill();
    write(
        &config,
        &format!("{text}warnings:\n  rule_silent_after: 1s\n  rule_silent_lines: 20\n"),
    );
    let _klaxon = run_serving(s.dir.path());
    let log = s.dir.path().join("logs/app.log");
    // The restarted Klaxon may not listen yet: a refused connection is "not yet".
    let silent = || async {
        let Ok(r) = s.client.get(s.url("/api/status")).send().await else {
            return false;
        };
        let body = r.text().await.unwrap_or_default();
        serde_json::from_str::<Value>(&body).is_ok_and(|v| {
            v["warnings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|w| w["kind"] == "rule_silent" && w["subject"] == "order-errors")
        })
    };
    // Keep the source busy while the rule stays silent.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !silent().await {
        assert!(
            std::time::Instant::now() < deadline,
            "no rule_silent warning"
        );
        append(&log, format!("{}\n", json!({"level": "INFO"})).repeat(10));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    append(&log, format!("{}\n", error_line("Z-1")));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while silent().await {
        assert!(
            std::time::Instant::now() < deadline,
            "the warning did not end with a match"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The console's forms over HTTP: sign in (a session cookie), then every action with the
/// session's CSRF value; without either, nothing changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_forms_need_a_session_and_its_csrf_value() {
    let broken = Recorder::start("no").await;
    broken.reply(400, &[], "bad request");
    let channels = format!(
        "  broken:\n    type: webhook\n    url: {}\n",
        broken.url("/broken")
    );
    let (a, b) = (error_line("A-1"), error_line("B-2"));
    let s = start(&channels, "broken", "    format: json\n", &[&a, &b]);
    s.wait("two firing alerts and a dead letter", || async {
        s.alerts("firing").await.len() == 2
            && !s.get_json("/api/dlq").await["dead_letters"]
                .as_array()
                .unwrap()
                .is_empty()
    })
    .await;
    let form = |path: &str, body: &str, cookie: Option<&str>| {
        let mut req = s
            .client
            .post(s.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string());
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };

    // Signed out: the page has no forms that change anything, and posting them fails.
    let (_, page) = s.get("/").await;
    assert!(page.contains("id=\"login\"") && !page.contains("name=\"csrf\""));
    let id = s.alerts("firing").await[0]["id"].as_u64().unwrap();
    let r = form(&format!("/console/alerts/{id}/ack"), "csrf=x", None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = form("/console/login", "token=wrong-token-0123456789abc", None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());

    // Sign in: an HttpOnly, SameSite=Strict session cookie.
    let r = form("/console/login", &format!("token={TOKEN}"), None)
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_string();
    let page = s
        .client
        .get(s.url("/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a CSRF value on the signed-in page")
        .to_string();

    // A session without its CSRF value, or a CSRF value without the session, is refused.
    let r = form(
        &format!("/console/alerts/{id}/ack"),
        "csrf=wrong",
        Some(&cookie),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = form(
        &format!("/console/alerts/{id}/ack"),
        &format!("csrf={csrf}"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    assert_eq!(s.alerts("firing").await.len(), 2, "nothing changed");

    // Acknowledge with a name, resolve, silence, expire the silence, retry and drop dead letters.
    let ok = |r: reqwest::Response| {
        assert_eq!(r.status().as_u16(), 303, "{r:?}");
        let to = r.headers()["location"].to_str().unwrap().to_string();
        assert!(to.starts_with("/?done="), "{to}");
        to
    };
    ok(form(
        &format!("/console/alerts/{id}/ack"),
        &format!("csrf={csrf}&by=carol"),
        Some(&cookie),
    )
    .await
    .unwrap());
    assert_eq!(s.alert(id).await["alert"]["acknowledged_by"], "carol");
    ok(form(
        &format!("/console/alerts/{id}/resolve"),
        &format!("csrf={csrf}"),
        Some(&cookie),
    )
    .await
    .unwrap());
    assert_eq!(s.alert(id).await["alert"]["state"], "resolved");
    let other = s.alerts("firing").await[0]["id"].as_u64().unwrap();
    let to = ok(form(
        "/console/silence",
        &format!("csrf={csrf}&alert={other}&duration=1h&comment=deploying"),
        Some(&cookie),
    )
    .await
    .unwrap());
    assert!(to.contains("Silence"), "{to}");
    let silences = s.get_json("/api/silences").await;
    let silence = &silences["silences"][0];
    assert_eq!(silence["author"], "console");
    assert_eq!(silence["matchers"][0], "rule = order-errors");
    let key = s.alert(other).await["alert"]["key"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(silence["matchers"][1], key.replacen('=', " = ", 1));
    let sid = silence["id"].as_u64().unwrap();
    ok(form(
        &format!("/console/silences/{sid}/expire"),
        &format!("csrf={csrf}"),
        Some(&cookie),
    )
    .await
    .unwrap());
    assert!(s.get_json("/api/silences").await["silences"]
        .as_array()
        .unwrap()
        .is_empty());
    let dead = s.get_json("/api/dlq").await["dead_letters"][0]["id"]
        .as_i64()
        .unwrap();
    ok(form(
        &format!("/console/dlq/{dead}/drop"),
        &format!("csrf={csrf}"),
        Some(&cookie),
    )
    .await
    .unwrap());
    assert!(!s.get_json("/api/dlq").await["dead_letters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["id"] == dead));
    if let Some(next) = s.get_json("/api/dlq").await["dead_letters"][0]["id"].as_i64() {
        ok(form(
            &format!("/console/dlq/{next}/retry"),
            &format!("csrf={csrf}"),
            Some(&cookie),
        )
        .await
        .unwrap());
    }

    // Sign out: the cookie is cleared.
    let r = form("/console/logout", &format!("csrf={csrf}"), Some(&cookie))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
}
