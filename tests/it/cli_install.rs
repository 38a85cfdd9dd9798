//! Issue #16, installing and running the binary: `--version` with the git revision (and
//! the build script's fallback without a checkout), completions for every shell, the man
//! page, `--log-format json`, and no terminal colours when stderr is not a terminal.

use std::path::Path;
use std::process::Command;

use crate::support::binary::klaxon;
use crate::support::write;

/// The build script itself, to check its fallback without building Klaxon from a tarball.
#[allow(dead_code)]
#[path = "../../build.rs"]
mod build_script;

fn stdout_of(args: &[&str]) -> String {
    let out = klaxon().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "klaxon {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

#[test]
fn version_names_the_version_and_the_git_revision() {
    let shown = stdout_of(&["--version"]);
    let (rest, rev) = shown
        .trim_end()
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once(" (rev "))
        .unwrap_or_else(|| panic!("no `(rev …)` in {shown:?}"));
    assert_eq!(rest, format!("klaxon {}", env!("CARGO_PKG_VERSION")));
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let top = git(manifest, &["rev-parse", "--show-toplevel"]);
    let in_checkout =
        top.is_some_and(|t| Path::new(&t).canonicalize().ok() == manifest.canonicalize().ok());
    if in_checkout {
        assert_eq!(
            Some(rev.to_string()),
            git(manifest, &["rev-parse", "--short", "HEAD"])
        );
    } else {
        assert_eq!(rev, "unknown");
    }
    assert_eq!(stdout_of(&["-V"]), shown);
}

#[test]
fn without_a_checkout_of_its_own_the_revision_is_unknown() {
    // A source tarball unpacked somewhere: no git work tree at all.
    let tarball = tempfile::tempdir().unwrap();
    assert_eq!(build_script::git_revision(tarball.path()), None);
    // Unpacked inside another repository: that one's revision is not Klaxon's.
    let outer = tempfile::tempdir().unwrap();
    if git(outer.path(), &["init", "-q"]).is_some() {
        let inner = outer.path().join("klaxon-0.1.0");
        std::fs::create_dir(&inner).unwrap();
        assert_eq!(build_script::git_revision(&inner), None);
    }
    assert!(!build_script::is_revision("abc\n--evil"));
}

#[test]
fn completions_for_every_shell_know_the_subcommands() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        assert!(!script.trim().is_empty(), "{shell}");
        for sub in ["run", "check", "notify-test", "completions"] {
            assert!(script.contains(sub), "{shell} completions lack `{sub}`");
        }
    }
    let out = klaxon().args(["completions", "tcsh"]).output().unwrap();
    assert!(!out.status.success());
}

#[test]
fn the_man_page_is_roff_and_covers_the_subcommands() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH klaxon 1"), "{page}");
    assert!(page.contains(".SH SYNOPSIS"), "{page}");
    for sub in [
        "klaxon\\-run",
        "klaxon\\-notify\\-test",
        "klaxon\\-completions",
    ] {
        assert!(page.contains(sub), "{sub} missing from\n{page}");
    }
    // Every page klaxon.1 refers to, for `man klaxon-run`.
    let dir = tempfile::tempdir().unwrap();
    let listed = stdout_of(&["man", "--dir", dir.path().to_str().unwrap()]);
    for name in [
        "klaxon.1",
        "klaxon-run.1",
        "klaxon-notify-test.1",
        "klaxon-dlq-list.1",
    ] {
        let page = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert!(page.contains(".TH "), "{name}");
        assert!(listed.contains(name), "{listed}");
    }
}

/// A directory where `klaxon run --once` has something to say: a file source with one
/// line, a rule and a console channel.
fn scene() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(&d.join("logs/app.log"), "ERROR boom\n");
    write(
        &d.join("klaxon.yaml"),
        "sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\nchannels:\n  out:\n    type: console\nrules: rules\nstate_dir: state\nshutdown_timeout: 1s\n",
    );
    write(
        &d.join("rules/errors.yaml"),
        "name: errors\nsource: app\nquery: ERROR\nnotify: [out, nowhere]\n",
    );
    dir
}

fn run_once(dir: &Path, envs: &[(&str, &str)], args: &[&str]) -> String {
    let out = klaxon()
        .current_dir(dir)
        .env("KLAXON_LOG", "info")
        .envs(envs.iter().copied())
        .args(args)
        .args(["run", "--once", "-c", "klaxon.yaml"])
        .output()
        .unwrap();
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn log_format_json_writes_one_json_object_per_line() {
    let dir = scene();
    // A rule naming an unknown channel: the refusal is a JSON line too.
    let stderr = run_once(dir.path(), &[], &["--log-format", "json"]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}\n{stderr}")))
        .collect();
    let refusal = lines
        .iter()
        .find(|l| {
            l["message"]
                .as_str()
                .is_some_and(|m| m.contains("`nowhere`"))
        })
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(refusal["level"], "ERROR");
    assert_eq!(refusal["line"], 4);

    write(
        &dir.path().join("rules/errors.yaml"),
        "name: errors\nsource: app\nquery: ERROR\nnotify: [out]\n",
    );
    for (envs, args) in [
        (&[][..], &["--log-format", "json"][..]),
        (&[("KLAXON_LOG_FORMAT", "json")][..], &[][..]),
    ] {
        let stderr = run_once(dir.path(), envs, args);
        let mut messages = Vec::new();
        for line in stderr.lines() {
            let event: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}"));
            assert!(
                event["timestamp"].is_string() && event["level"].is_string(),
                "{line}"
            );
            messages.push(event["message"].as_str().unwrap_or_default().to_string());
        }
        assert!(messages.iter().any(|m| m == "klaxon running"), "{stderr}");
    }
}

#[test]
fn without_a_terminal_the_pretty_log_has_no_colours() {
    let dir = scene();
    write(
        &dir.path().join("rules/errors.yaml"),
        "name: errors\nsource: app\nquery: ERROR\nnotify: [out]\n",
    );
    let stderr = run_once(dir.path(), &[], &[]);
    assert!(stderr.contains("klaxon running"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
    let stderr = run_once(dir.path(), &[], &["--log-format", "pretty"]);
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
}
