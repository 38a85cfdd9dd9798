//! Issue #16, the `command` channel (a remediation hook): real programs (`sh` scripts the
//! tests write) receive the alert as JSON on stdin and nothing of it in their argv or
//! environment; a timeout kills the program's whole process group; a non-zero exit is a
//! failure carrying the program's stderr; it is refused unless klaxon.yaml says
//! `allow_commands: true`; and what each attempt came to lands in the alert's history.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use klaxon::alert::Alert;
use klaxon::notify::{build, Channel, DeliveryError};

use crate::support::binary::klaxon;
use crate::support::{assert_no_secrets, channel_config, clock, sample_alert, write};

/// Writes an executable `sh` script.
fn script(path: &Path, body: &str) -> PathBuf {
    write(path, &format!("#!/bin/sh\n{body}"));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_path_buf()
}

/// A command channel running `sh SCRIPT ARGS…` (the script is read by `sh`, not executed,
/// so a test thread writing another script cannot make it "text file busy").
fn channel(script: &Path, args: &[&str], extra: &str) -> Box<dyn Channel> {
    let mut all = vec![script.display().to_string()];
    all.extend(args.iter().map(|a| a.to_string()));
    let args = serde_json::to_string(&all).unwrap();
    let yaml = format!("type: command\nprogram: sh\nargs: {args}\n{extra}");
    build("fix", &channel_config(&yaml), clock()).unwrap()
}

/// Log text as hostile as it gets for a shell: quotes, substitutions, line breaks.
fn hostile_alert() -> Alert {
    let mut alert = sample_alert();
    alert.sample = "ERROR \"quoted\" 'single' $(touch PWNED) `touch PWNED2` ; rm -rf x | y && z\nsecond line\r\n\ttab $HOME ${PATH}".into();
    alert.key.insert("sku", "A-1'; touch PWNED3; echo '");
    alert.description = Some("line one\nline two $(id)".into());
    alert
}

/// The environment's variable names, one `NAME=value` per line.
fn names(env: &str) -> Vec<String> {
    let mut out: Vec<String> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.to_string()))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn the_program_gets_the_exact_json_on_stdin_and_nothing_of_the_alert_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let hook = script(
        &dir.path().join("hook.sh"),
        "cat > \"$OUT/stdin.json\"\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$OUT/argv.txt\"\nenv > \"$OUT/env.txt\"\npwd > \"$OUT/pwd.txt\"\necho 'restarted order-service'\n",
    );
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let extra = format!(
        "env:\n  OUT: '{}'\n  SERVICE: orders\nworking_dir: '{}'\n",
        out.display(),
        work.display()
    );
    let ch = channel(&hook, &["--restart", "order-service"], &extra);
    let alert = hostile_alert();

    let receipt = ch.send(&alert).await.unwrap();

    let stdin = std::fs::read_to_string(out.join("stdin.json")).unwrap();
    assert_eq!(
        stdin,
        serde_json::to_string(&alert).unwrap(),
        "exactly the alert's JSON"
    );
    let back: Alert = serde_json::from_str(&stdin).unwrap();
    assert_eq!(back.sample, alert.sample, "log text arrives verbatim");
    assert_eq!(
        std::fs::read_to_string(out.join("argv.txt")).unwrap(),
        "--restart\norder-service\n",
        "argv is the configured args alone"
    );
    // Only PATH and `env:` (plus what sh itself sets: PWD, and for some shells SHLVL, _).
    let env = std::fs::read_to_string(out.join("env.txt")).unwrap();
    let unexpected: Vec<String> = names(&env)
        .into_iter()
        .filter(|n| {
            !["PATH", "OUT", "SERVICE", "PWD", "OLDPWD", "SHLVL", "_"].contains(&n.as_str())
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?} leaked into\n{env}");
    assert!(env.contains("SERVICE=orders\n"), "{env}");
    assert!(!env.contains("PWNED"), "{env}");
    assert_eq!(
        std::fs::read_to_string(out.join("pwd.txt")).unwrap().trim(),
        work.canonicalize().unwrap().to_str().unwrap()
    );
    for marker in ["PWNED", "PWNED2", "PWNED3"] {
        assert!(!work.join(marker).exists() && !out.join(marker).exists());
    }
    assert!(
        receipt
            .answer
            .ends_with("exit status 0\nstdout:\nrestarted order-service"),
        "{}",
        receipt.answer
    );
}

#[tokio::test]
async fn a_digest_is_one_json_document_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let got = dir.path().join("stdin.json");
    let hook = script(&dir.path().join("hook.sh"), "cat > \"$GOT\"\n");
    let ch = channel(&hook, &[], &format!("env: {{GOT: '{}'}}\n", got.display()));
    let alerts = vec![hostile_alert(), sample_alert()];

    ch.send_digest(&alerts).await.unwrap();

    let stdin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&got).unwrap()).unwrap();
    assert_eq!(
        stdin,
        serde_json::json!({"digest": true, "alerts": alerts}),
        "{stdin}"
    );
}

#[tokio::test]
async fn a_non_zero_exit_is_a_retryable_failure_with_the_programs_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let hook = script(
        &dir.path().join("hook.sh"),
        "cat > /dev/null\necho 'trying with token '\"$API_TOKEN\"\necho 'systemctl: unit order-service not found' >&2\nexit 3\n",
    );
    let ch = channel(&hook, &[], "env: {API_TOKEN: tok-SECRET-5150}\n");

    let err = ch.send(&sample_alert()).await.unwrap_err();

    let DeliveryError::Retryable { message, .. } = &err else {
        panic!("not retryable: {err:?}");
    };
    assert!(message.starts_with("`sh`: exit status 3\n"), "{message}");
    assert!(
        message.contains("\nstderr:\nsystemctl: unit order-service not found"),
        "{message}"
    );
    assert!(
        message.contains("\nstdout:\ntrying with token ***"),
        "{message}"
    );
    assert_no_secrets(&err, &["tok-SECRET-5150"]);
}

fn alive(pid: &str) -> bool {
    // A killed process whose parent is gone may linger as a zombie until reaped: dead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[tokio::test]
async fn past_its_timeout_the_program_and_everything_it_started_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let hook = script(
        &dir.path().join("hook.sh"),
        "sleep 60 &\necho $! > \"$PIDS\"\necho $$ >> \"$PIDS\"\necho 'working on it'\nsleep 60\n",
    );
    let ch = channel(
        &hook,
        &[],
        &format!("timeout: 700ms\nenv: {{PIDS: '{}'}}\n", pids.display()),
    );
    let started = Instant::now();

    let err = ch.send(&sample_alert()).await.unwrap_err();

    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let DeliveryError::Retryable { message, .. } = &err else {
        panic!("not retryable: {err:?}");
    };
    assert!(
        message.starts_with("`sh`: no exit within 700ms: its process group was killed"),
        "{message}"
    );
    assert!(message.contains("stdout:\nworking on it"), "{message}");
    let pids = std::fs::read_to_string(&pids).unwrap();
    let pids: Vec<&str> = pids.lines().collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    assert!(
        crate::support::wait_for(Duration::from_secs(2), || pids.iter().all(|p| !alive(p))),
        "the script and the `sleep` it started are gone: {pids:?}"
    );
}

#[tokio::test]
async fn a_program_that_ignores_stdin_or_leaves_a_process_behind_is_judged_by_its_exit() {
    let dir = tempfile::tempdir().unwrap();
    // Exits at once without reading a digest far larger than a pipe holds.
    let quick = script(&dir.path().join("quick.sh"), "echo ok\n");
    let ch = channel(&quick, &[], "timeout: 5s\n");
    let mut big = sample_alert();
    big.sample = "x".repeat(8000);
    let alerts = vec![big; 200];
    let receipt = ch.send_digest(&alerts).await.unwrap();
    assert!(
        receipt.answer.ends_with("stdout:\nok"),
        "{}",
        receipt.answer
    );

    // Leaves a process holding its stdout open: the delivery does not wait for it.
    let leaves = script(&dir.path().join("leaves.sh"), "sleep 5 &\necho started\n");
    let ch = channel(&leaves, &[], "timeout: 10s\n");
    let started = Instant::now();
    let receipt = ch.send(&sample_alert()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(
        receipt.answer.contains("exit status 0"),
        "{}",
        receipt.answer
    );
}

/// A Klaxon directory: a plain-text source, two command channels (one that works, one
/// that fails), an `any` rule notifying both, and `top` at the top of klaxon.yaml.
fn scene(top: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    script(
        &d.join("hooks/restart.sh"),
        "cat > \"$OUT/stdin.json\"\nprintf '%s\\n' \"$@\" > \"$OUT/argv.txt\"\necho 'restarted order-service'\n",
    );
    script(
        &d.join("hooks/broken.sh"),
        "echo 'systemctl: unit order-service not found' >&2\nexit 3\n",
    );
    std::fs::create_dir_all(d.join("out")).unwrap();
    write(
        &d.join("klaxon.yaml"),
        &format!(
            "{top}sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\n\
             channels:\n  fix:\n    type: command\n    program: ./hooks/restart.sh\n    args: [--service, orders]\n    env: {{OUT: '{}'}}\n\
             \x20 broken:\n    type: command\n    program: hooks/broken.sh\n\
             rules: rules\nstate_dir: state\nshutdown_timeout: 2s\n",
            d.join("out").display()
        ),
    );
    write(
        &d.join("rules/errors.yaml"),
        "name: errors\nsource: app\nquery: ERROR\nnotify: [fix, broken]\n",
    );
    dir
}

const HOSTILE_LINE: &str =
    "ERROR order \"O-1\" $(touch PWNED) `touch PWNED2`; rm -rf / | cat && echo '${HOME}'";

#[test]
fn commands_are_refused_unless_klaxon_yaml_allows_them() {
    let dir = scene("");
    let d = dir.path();
    write(&d.join("logs/app.log"), &format!("{HOSTILE_LINE}\n"));
    for args in [&["check"][..], &["run", "--once"]] {
        let out = klaxon()
            .current_dir(d)
            .args(args)
            .args(["-c", "klaxon.yaml"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        // Line 7 holds fix's `type: command`, line 12 broken's: each at its value.
        for (at, name) in [("klaxon.yaml:7:11", "fix"), ("klaxon.yaml:12:11", "broken")] {
            let expected = format!(
                "{at}: error: channel `{name}`: `type: command` runs a program for every alert, which is off by default; add `allow_commands: true`"
            );
            assert!(stderr.contains(&expected), "{args:?}: {stderr}");
        }
    }
    assert!(!d.join("out/stdin.json").exists(), "nothing ran");
    // `allow_commands: false` is the same as not saying it.
    let dir = scene("allow_commands: false\n");
    let out = klaxon()
        .current_dir(dir.path())
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn allowed_a_hook_runs_on_an_alert_and_its_outcome_is_in_the_history() {
    let dir = scene("allow_commands: true\n");
    let d = dir.path();
    write(&d.join("logs/app.log"), &format!("{HOSTILE_LINE}\n"));
    let check = klaxon()
        .current_dir(d)
        .args(["check", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    let run = klaxon()
        .current_dir(d)
        .args(["run", "--once", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let stdin: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("out/stdin.json")).unwrap()).unwrap();
    assert_eq!(stdin["sample"], HOSTILE_LINE, "{stdin}");
    assert_eq!(stdin["rule"], "errors");
    assert_eq!(
        std::fs::read_to_string(d.join("out/argv.txt")).unwrap(),
        "--service\norders\n"
    );
    for marker in ["PWNED", "PWNED2"] {
        assert!(!d.join(marker).exists() && !d.join("hooks").join(marker).exists());
    }

    let listed = klaxon()
        .current_dir(d)
        .args(["alerts", "--state", "all", "--history", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(
        table.contains(
            "\tdelivered\tfix: `./hooks/restart.sh`: exit status 0\\nstdout:\\nrestarted order-service\n"
        ),
        "{table}"
    );
    assert!(
        table.contains(
            "\tfailed\tbroken: `hooks/broken.sh`: exit status 3\\nstderr:\\nsystemctl: unit order-service not found (next attempt at "
        ),
        "{table}"
    );
}
