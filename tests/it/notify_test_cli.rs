//! Issue #16, `klaxon notify-test CHANNEL`: one marked test message through the real
//! channel code to real local listeners (a recording HTTP server, a real SMTP server),
//! the service's answer printed, exit 0 or 1, and no secret on screen.

use std::path::Path;
use std::process::Output;

use mail_parser::MessageParser;

use crate::support::binary::klaxon;
use crate::support::http::Recorder;
use crate::support::smtp::SmtpServer;
use crate::support::write;

const URL_TOKEN: &str = "url-SECRET-77";
const HEADER_TOKEN: &str = "hdr-SECRET-88";

/// A directory whose klaxon.yaml defines `channels` (YAML, indented under `channels:`).
fn config(channels: &str, top: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("logs/app.log"), "");
    write(&dir.path().join("rules/.keep"), "");
    write(
        &dir.path().join("klaxon.yaml"),
        &format!(
            "{top}sources:\n  app:\n    type: file\n    include: [\"logs/app.log\"]\nchannels:\n{channels}rules: rules\nstate_dir: state\n"
        ),
    );
    dir
}

/// `klaxon notify-test ARGS… -c klaxon.yaml` in `dir`, the secrets in its environment.
fn notify_test(dir: &Path, channel: &str) -> Output {
    klaxon()
        .current_dir(dir)
        .env("HOOK_TOKEN", URL_TOKEN)
        .env("HOOK_AUTH", HEADER_TOKEN)
        .args(["notify-test", channel, "-c", "klaxon.yaml"])
        .output()
        .unwrap()
}

/// The same, off the async test's runtime (the listeners run on it).
async fn notify_test_async(dir: &Path, channel: &str) -> Output {
    let dir = dir.to_path_buf();
    let channel = channel.to_string();
    tokio::task::spawn_blocking(move || notify_test(&dir, &channel))
        .await
        .unwrap()
}

fn webhook(server: &Recorder) -> String {
    format!(
        "  email-oncall:\n    type: console\n  ops-hook:\n    type: webhook\n    url: '{}?token=${{HOOK_TOKEN}}'\n    headers: {{Authorization: 'Bearer ${{HOOK_AUTH}}'}}\n    timeout: 5s\n",
        server.url("/hook")
    )
}

fn shown(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_no_secrets(out: &Output) {
    let all = shown(out);
    for secret in [URL_TOKEN, HEADER_TOKEN] {
        assert!(!all.contains(secret), "{secret} shown:\n{all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_gets_a_marked_test_message_and_its_answer_is_printed() {
    let server = Recorder::start("").await;
    // The service echoes the token back: it is still never shown.
    server.reply(
        202,
        &[],
        &format!("{{\"accepted\": true, \"token\": \"{URL_TOKEN}\"}}"),
    );
    let dir = config(&webhook(&server), "");

    let out = notify_test_async(dir.path(), "ops-hook").await;

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout.starts_with("channel `ops-hook` (webhook): the test message was delivered\nHTTP 202 Accepted: {\"accepted\": true, \"token\": \"***\"}"),
        "{stdout}"
    );
    assert_no_secrets(&out);
    let request = server.only_request();
    assert_eq!(request.path_and_query, format!("/hook?token={URL_TOKEN}"));
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {HEADER_TOKEN}").as_str())
    );
    let body = request.json();
    assert_eq!(body["rule"], "Klaxon test message", "{body}");
    assert_eq!(body["severity"], "info");
    assert_eq!(body["labels"]["klaxon_test"], "true");
    let host = body["key"]["host"].as_str().unwrap();
    assert!(!host.is_empty());
    let description = body["description"].as_str().unwrap();
    assert!(
        description.starts_with(&format!("A test message from Klaxon on {host} at "))
            && description.contains("klaxon notify-test ops-hook"),
        "{description}"
    );
    // The time it says is the time it was sent.
    let fired = chrono::DateTime::parse_from_rfc3339(body["fired_at"].as_str().unwrap()).unwrap();
    assert!((chrono::Utc::now() - fired.to_utc()).num_seconds().abs() < 60);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_webhook_exits_1_with_the_status_and_no_secret() {
    let server = Recorder::start("").await;
    server.reply(401, &[], &format!("bad token {URL_TOKEN}"));
    let dir = config(&webhook(&server), "");

    let out = notify_test_async(dir.path(), "ops-hook").await;

    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        stderr.contains("channel `ops-hook` (webhook): the test message was not delivered (retrying cannot help)\nHTTP 401 Unauthorized: bad token ***"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", shown(&out));
    assert_no_secrets(&out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_webhook_exits_1() {
    let port = crate::support::http::closed_port();
    let channels = format!("  ops-hook:\n    type: webhook\n    url: 'http://127.0.0.1:{port}/hook?token=${{HOOK_TOKEN}}'\n    timeout: 2s\n");
    let dir = config(&channels, "");
    let out = notify_test_async(dir.path(), "ops-hook").await;
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(
        shown(&out).contains("(a delivery would be retried)\nrequest failed"),
        "{}",
        shown(&out)
    );
    assert_no_secrets(&out);
}

#[test]
fn email_gets_a_marked_test_message_and_the_smtp_reply_is_printed() {
    let server = SmtpServer::start();
    let channels = format!(
        "  email-oncall:\n    type: email\n    smtp: {{host: 127.0.0.1, port: {}, tls: none}}\n    from: klaxon@example.com\n    to: [oncall@example.com]\n    subject_prefix: '[klaxon]'\n    timeout: 5s\n",
        server.port
    );
    let dir = config(&channels, "");

    let out = notify_test(dir.path(), "email-oncall");

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout.starts_with(
            "channel `email-oncall` (email): the test message was delivered\nSMTP 250 "
        ),
        "{stdout}"
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let mail = MessageParser::default().parse(&messages[0]).unwrap();
    let subject = mail.subject().unwrap();
    assert!(
        subject.starts_with("[klaxon] [INFO] Klaxon test message (host="),
        "{subject}"
    );
    let text = mail.body_text(0).unwrap();
    assert!(text.contains("A test message from Klaxon on "), "{text}");
    assert!(
        text.contains("This is a test from Klaxon, not an alert."),
        "{text}"
    );
}

#[test]
fn an_unknown_channel_is_an_error_naming_every_known_one() {
    let channels = "  ops-hook:\n    type: console\n  email-oncall:\n    type: console\n";
    let dir = config(channels, "");
    let out = notify_test(dir.path(), "pager");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "klaxon: unknown channel `pager`; klaxon.yaml defines: email-oncall, ops-hook"
    );
    let out = notify_test(dir.path(), "ops-hok");
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown channel `ops-hok`; did you mean `ops-hook`? klaxon.yaml defines: email-oncall, ops-hook"),
        "{}",
        shown(&out)
    );
}

#[test]
fn console_and_command_channels_print_their_outcome() {
    let channels = "  out:\n    type: console\n  fix:\n    type: command\n    program: sh\n    args: ['-c', 'read -r line || true; echo \"got $${#line} bytes\"; echo \"token $HOOK_TOKEN\" >&2']\n    env: {HOOK_TOKEN: '${HOOK_TOKEN}'}\n";
    let dir = config(channels, "allow_commands: true\n");

    let out = notify_test(dir.path(), "out");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout.contains("[INFO] Klaxon test message (host="),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "channel `out` (console): the test message was delivered\nwritten to standard output"
        ),
        "{stdout}"
    );

    let out = notify_test(dir.path(), "fix");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(
        stdout.contains("channel `fix` (command): the test message was delivered\n`sh`: exit status 0\nstdout:\ngot "),
        "{stdout}"
    );
    assert!(stdout.contains("stderr:\ntoken ***"), "{stdout}");
    assert_no_secrets(&out);

    // Without the switch, not even a test runs a program.
    let dir = config(channels, "");
    let out = notify_test(dir.path(), "fix");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        shown(&out).contains("add `allow_commands: true`"),
        "{}",
        shown(&out)
    );
}
