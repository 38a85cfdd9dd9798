//! Item 8: log text cannot forge a line of Klaxon's console output or of its own log.

use std::process::Stdio;
use std::time::Duration;

use super::{append, Scene};
use crate::support::binary::{klaxon, Klaxon};

const SOURCES: &str = concat!(
    "  app:\n    type: file\n    include: [\"logs/*.log\"]\n    format: json\n",
    "    poll_interval: 50ms\n",
);

const RULE: &str = "name: errors\nsource: app\nquery: 'level:ERROR'\ngroup_by: [user]\nrealert: 0s\nnotify: [out]\n";

const FORGED: &str = "2026-06-08 INFO all clear";

#[cfg(unix)]
#[test]
fn newlines_in_keys_and_file_names_cannot_forge_a_line() {
    let scene = Scene::new(SOURCES, &[("errors.yaml", RULE)]);
    // A link whose name carries a forged log line: Klaxon logs that it skips it.
    let evil = scene.path(&format!("logs/x\n{FORGED}\n.log"));
    std::os::unix::fs::symlink("/etc/hostname", &evil).unwrap();
    let child = Klaxon::spawn(
        klaxon()
            .current_dir(scene.dir.path())
            .args(["run", "-c", "klaxon.yaml"])
            .stdout(Stdio::piped()),
    );
    append(
        &scene.path("logs/app.log"),
        &[
            format!(r#"{{"level":"ERROR","user":"eve\n{FORGED}\n\u001b[2J","message":"x"}}"#),
            r#"{"level":"ERROR","user":"genuine","message":"y"}"#.to_string(),
        ],
    );
    scene.settle(&child, 2);
    child.terminate();
    let done = child.finish(Duration::from_secs(20), "klaxon stops");
    assert!(done.status.success(), "{}", done.stderr);
    for (what, text) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
        assert!(
            !text.lines().any(|l| l.trim_start().starts_with(FORGED)),
            "{what} has a forged line:\n{text}"
        );
        assert!(!text.contains('\u{1b}'), "{what} has a terminal escape");
    }
    assert!(done.stdout.contains("user=genuine"), "{}", done.stdout);
    assert!(
        done.stderr.contains("skipping a symbolic link"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_configuration_value_from_the_environment_never_shows_in_an_error() {
    let scene = Scene::with_config(
        "sources:\n  app: { type: file, include: [\"logs/*.log\"] }\n\
         channels:\n  mail:\n    type: email\n    smtp: { host: localhost }\n    from: ${MAIL_FROM}\n    to: [ops@example.com]\n\
         rules: rules\n",
        &[(
            "r.yaml",
            "name: r\nsource: app\nquery: x\nnotify: [mail]\n",
        )],
    );
    let out = klaxon()
        .current_dir(scene.dir.path())
        .env("MAIL_FROM", "not-an-address-s3cr3t")
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("channel `mail`: invalid `from`"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("${MAIL_FROM}"), "{text}");
}
