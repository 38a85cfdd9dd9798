//! Issue #10, templates: a rule's own template and mentions reach the channel through the
//! real binary (and follow a hot reload); template problems are placed at file:line:col.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use crate::support::binary::{klaxon, Klaxon};
use crate::support::endpoint::{Behaviour, Endpoint};
use crate::support::files::append;
use crate::support::{wait_until, write};

fn scene(channels: &str, rules: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\n    format: json\n    time_field: ts\n    poll_interval: 50ms\n    max_alert_age: 3650d\n\
         display_timezone: Asia/Shanghai\n\
         grouping: {{group_by: [rule, order]}}\n\
         channels:\n{channels}rules: rules\nstate_dir: state\nshutdown_timeout: 2s\n"
    );
    write(&dir.path().join("klaxon.yaml"), &config);
    for (name, text) in rules {
        write(&dir.path().join("rules").join(name), text);
    }
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    dir
}

fn check(dir: &Path) -> Output {
    klaxon()
        .current_dir(dir)
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap()
}

fn dingtalk(url: &str) -> String {
    format!(
        "  dt:\n    type: dingtalk\n    access_token: token\n    base_url: {url}\n    at_mobiles: ['13700000000']\n"
    )
}

const GHOST: &str = "name: ghost-orders\nsource: app\nquery: 'level:ERROR AND msg:ghost'\ngroup_by: [order]\nrealert: 0s\nnotify: [dt]\n\
    dingtalk:\n  at_mobiles: ['13800000000']\n  at_all: true\n\
    templates:\n  dt:\n    text: |\n      #### 幽灵订单 {{ alert.key_fields[0].value }}\n      {{ alert.summary }} @ {{ alert.first_seen }}\n";

#[test]
fn a_rules_template_and_mentions_reach_dingtalk_and_follow_a_reload() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let robot = rt.block_on(Endpoint::start(Behaviour::DingTalk {
        per_minute: 20,
        block: Duration::from_secs(600),
    }));
    let other = "name: other\nsource: app\nquery: 'level:WARN'\nrealert: 0s\nnotify: [dt]\n";
    let dir = scene(
        &dingtalk(&robot.url("/robot/send")),
        &[("ghost.yaml", GHOST), ("other.yaml", other)],
    );
    let out = check(dir.path());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let klaxon = Klaxon::run(&dir.path().join("klaxon.yaml"));
    let log = dir.path().join("logs/app.log");
    append(
        &log,
        "{\"ts\":\"2026-06-08T03:00:00Z\",\"level\":\"ERROR\",\"msg\":\"ghost\",\"order\":\"O-1 @所有人\"}\n\
         {\"ts\":\"2026-06-08T03:00:01Z\",\"level\":\"WARN\",\"msg\":\"slow\"}\n",
    );
    wait_until("two messages", Duration::from_secs(20), || {
        robot.accepted_bodies().len() == 2
    });
    let bodies = robot.accepted_bodies();
    let ghost = bodies
        .iter()
        .find(|b| {
            b["markdown"]["title"]
                .as_str()
                .unwrap()
                .contains("ghost-orders")
        })
        .unwrap_or_else(|| panic!("the ghost alert in {bodies:#?}"));
    let text = ghost["markdown"]["text"].as_str().unwrap();
    assert!(
        text.starts_with(
            "#### 幽灵订单 O-1 ＠所有人\n1 match of level:ERROR AND msg:ghost for order=O-1 ＠所有人 @ 2026-06-08 11:00:00 CST (03:00:00 UTC)"
        ),
        "{text}"
    );
    // The channel's person and the rule's, both named in the text; everyone only because
    // the rule says so.
    assert!(text.ends_with("@13700000000 @13800000000"), "{text}");
    assert_eq!(
        ghost["at"],
        serde_json::json!({"atMobiles": ["13700000000", "13800000000"], "atUserIds": [], "isAtAll": true})
    );
    // The other rule keeps the default template and never mentions everyone.
    let plain = bodies.iter().find(|b| b != &ghost).unwrap();
    assert_eq!(plain["at"]["isAtAll"], false);
    assert!(plain["markdown"]["text"]
        .as_str()
        .unwrap()
        .contains("**1 match** of `level:WARN`"));

    // A reload replaces the rule's template.
    write(
        &dir.path().join("rules/ghost.yaml"),
        &GHOST.replace("#### 幽灵订单", "#### 已改 ghost"),
    );
    std::thread::sleep(Duration::from_millis(2_500));
    append(
        &log,
        "{\"ts\":\"2026-06-08T03:00:02Z\",\"level\":\"ERROR\",\"msg\":\"ghost\",\"order\":\"O-2\"}\n",
    );
    wait_until("the third message", Duration::from_secs(20), || {
        robot.accepted_bodies().len() == 3
    });
    let third = robot.accepted_bodies().pop().unwrap();
    assert!(
        third["markdown"]["text"]
            .as_str()
            .unwrap()
            .starts_with("#### 已改 ghost O-2"),
        "{third}"
    );
    drop(klaxon);
}

#[test]
fn template_problems_are_placed_at_the_key() {
    let rule = "name: r\nsource: app\nquery: x\nnotify: [dt]\n\
                templates:\n  dt:\n    txet: 'x'\n    title: '{{ alert.rul }}'\n  dtt:\n    text: 'x'\n\
                dingtalk:\n  at_mobiles: ['not a phone']\n";
    let dir = scene(
        &dingtalk("http://127.0.0.1:9/robot/send"),
        &[("r.yaml", rule)],
    );
    let out = check(dir.path());
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "r.yaml:7:5: error: unknown template part `txet`; did you mean `text`?",
        "r.yaml:8:12: error: template line 1: `alert.rul` is undefined",
        "r.yaml:9:3: error: unknown channel `dtt`; did you mean `dt`?",
        "r.yaml:12:15: error: `not a phone` is not a phone number",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }

    // A channel's own template is checked when klaxon.yaml is.
    let dir = scene(
        "  out:\n    type: console\n    templates:\n      text: '{% if %}'\n",
        &[("r.yaml", "name: r\nsource: app\nquery: x\nnotify: [out]\n")],
    );
    let out = check(dir.path());
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("channel `out`: invalid `templates`: `text`: template line 1:"),
        "{text}"
    );
}
