//! Item 6: a 150 KB field cannot make an alert undeliverable; config files and queries
//! have size caps with a clear error.

use std::time::Duration;

use super::{append, stop, Scene};
use crate::support::binary::klaxon;
use crate::support::http::Recorder;
use crate::support::{wait_until, write};

const OK: &str = r#"{"errcode":0,"errmsg":"ok"}"#;

/// DingTalk's documented limit on a message body.
const DINGTALK_LIMIT: usize = 20_000;

#[test]
fn a_huge_field_leaves_every_message_within_the_channel_limit() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Recorder::start(OK));
    let config = format!(
        "sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n    poll_interval: 50ms\n\
         channels:\n  dt:\n    type: dingtalk\n    access_token: token\n    base_url: {}\n\
         kibana: {{ url: \"http://kibana:5601\", data_view: logs }}\nrules: rules\nstate_dir: state\n",
        server.url("/robot/send")
    );
    let rule = "name: errors\nsource: app\nquery: 'level:ERROR'\ngroup_by: [sku]\nrealert: 0s\nnotify: [dt]\n";
    let scene = Scene::with_config(&config, &[("errors.yaml", rule)]);
    let klaxon = scene.run();
    let huge = "x".repeat(150 * 1024);
    append(
        &scene.path("logs/app.log"),
        &[
            r#"{"level":"ERROR","sku":"A-1","message":"genuine before"}"#.to_string(),
            format!(r#"{{"level":"ERROR","sku":"{huge}","message":"{huge}"}}"#),
            r#"{"level":"ERROR","sku":"A-2","message":"genuine after"}"#.to_string(),
        ],
    );
    let bodies = || -> Vec<String> {
        server
            .requests()
            .iter()
            .map(|r| String::from_utf8_lossy(&r.body).into_owned())
            .collect()
    };
    // Each alert alone, or the later two as one digest (DingTalk's rate limit).
    wait_until("every alert delivered", Duration::from_secs(30), || {
        bodies().iter().any(|b| b.contains("A-2"))
    });
    let bodies = bodies();
    for body in &bodies {
        assert!(body.len() < DINGTALK_LIMIT, "{} bytes", body.len());
    }
    assert!(bodies.iter().any(|b| b.contains("A-1")), "{bodies:?}");
    assert!(
        bodies.iter().any(|b| b.contains("xxxx")),
        "the huge one arrived too"
    );
    stop(klaxon);
    drop(server);
}

#[test]
fn oversized_config_files_and_queries_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        &d.join("klaxon.yaml"),
        "sources:\n  app: { type: file, include: [\"logs/*.log\"] }\nchannels:\n  out: { type: console }\nrules: rules\n",
    );
    let long_query = format!(
        "name: q\nsource: app\nquery: '{}'\nnotify: [out]\n",
        "a OR ".repeat(4000) + "b"
    );
    write(&d.join("rules/q.yaml"), &long_query);
    let padding = format!("# {}\n", "x".repeat(2 * 1024 * 1024));
    write(
        &d.join("rules/big.yaml"),
        &format!("name: big\nsource: app\nquery: x\nnotify: [out]\n{padding}"),
    );
    let out = klaxon()
        .current_dir(d)
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("big.yaml: error: file is larger than 1024 KiB"),
        "{stderr}"
    );
    assert!(
        stderr.contains("q.yaml:3:8: error: `query` is longer than 16 KiB"),
        "{stderr}"
    );
}
