//! `klaxon notify-test CHANNEL`: one clearly marked test message through a channel of
//! klaxon.yaml, sent by the channel's real code (templates, signing, TLS, the program of a
//! `command` channel), and what the service answered: an HTTP status and the start of its
//! body, an SMTP reply, a program's exit status and output. Like every channel error,
//! what is printed has the channel's secrets redacted.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use clap::Args;

use super::channel_send::ChannelSender;
use crate::alert::{Alert, AlertKey, Severity};
use crate::notify::DeliveryError;

#[derive(Debug, Args)]
pub struct NotifyTestArgs {
    /// The channel, as named under `channels:` in klaxon.yaml.
    channel: String,
    #[arg(short, long, default_value = "klaxon.yaml")]
    config: PathBuf,
}

/// The rule name of a test message: what its title and subject show.
pub const TEST_RULE: &str = "Klaxon test message";

pub fn notify_test(args: &NotifyTestArgs) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::load_global(&args.config) {
        Ok(loaded) => {
            super::print_diagnostics(&loaded.warnings);
            loaded
        }
        Err(problems) => {
            super::print_diagnostics(&problems);
            return Ok(ExitCode::FAILURE);
        }
    };
    let global = &loaded.global;
    let name = args.channel.as_str();
    let Some(config) = global.channels.get(name) else {
        eprintln!("klaxon: {}", unknown_channel(name, global.channels.keys()));
        return Ok(ExitCode::FAILURE);
    };
    let kind = config.type_name();
    let sender = ChannelSender::new(global, name, config)?;
    let timeout = sender.timeout;
    // Whole seconds: the times in the message read as the time said in its text.
    let alert = test_alert(name, &hostname(), Utc::now().trunc_subsecs(0));
    let sent = sender.send(&alert);
    // What a program or a service said is shown as text, never as terminal control.
    let clean = |text: &str| crate::notify::sanitize(text);
    match sent {
        Ok(Ok(receipt)) => {
            println!(
                "channel `{name}` ({kind}): the test message was delivered\n{}",
                clean(&receipt.answer)
            );
            Ok(ExitCode::SUCCESS)
        }
        Ok(Err(e)) => {
            let what = match &e {
                DeliveryError::Retryable { .. } => "a delivery would be retried",
                DeliveryError::RateLimited { .. } => {
                    "the service says too many: the channel would pause"
                }
                DeliveryError::Permanent { .. } => "retrying cannot help",
            };
            eprintln!(
                "klaxon: channel `{name}` ({kind}): the test message was not delivered ({what})\n{}",
                clean(&e.to_string())
            );
            Ok(ExitCode::FAILURE)
        }
        Err(_) => {
            eprintln!(
                "klaxon: channel `{name}` ({kind}): the test message was not delivered: no answer within {}",
                crate::types::HumanDuration(timeout)
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `unknown channel `x`; did you mean `y`? klaxon.yaml defines: a, b` — every name, since
/// the point is finding the one to test.
fn unknown_channel<'a>(name: &str, known: impl Iterator<Item = &'a String> + Clone) -> String {
    let list: Vec<&str> = known.map(String::as_str).collect();
    if list.is_empty() {
        return format!("unknown channel `{name}`; klaxon.yaml defines no channels");
    }
    let hint = crate::types::closest(name, list.iter().copied())
        .map(|k| format!(" did you mean `{k}`?"))
        .unwrap_or_default();
    format!(
        "unknown channel `{name}`;{hint} klaxon.yaml defines: {}",
        list.join(", ")
    )
}

/// The test message: an `info` alert whose rule, description, detail and sample all say
/// it is a test from Klaxon, from which host and when, keyed by the host, with the label
/// `klaxon_test: "true"` for receivers that sort by labels.
pub fn test_alert(channel: &str, host: &str, now: DateTime<Utc>) -> Alert {
    let when = now.to_rfc3339_opts(SecondsFormat::Secs, true);
    Alert {
        rule: TEST_RULE.into(),
        description: Some(format!(
            "A test message from Klaxon on {host} at {when}, sent by `klaxon notify-test {channel}`: if you can read it, the channel works. Nothing is wrong."
        )),
        severity: Severity::Info,
        source: "klaxon notify-test".into(),
        query: "klaxon notify-test".into(),
        key: AlertKey::new([("host".to_string(), host.to_string())]),
        count: 1,
        window: None,
        distinct: false,
        first_seen: now,
        last_seen: now,
        sample: format!(
            "Klaxon test message from {host} at {when} (klaxon notify-test {channel}); no action needed"
        ),
        detail: Some("This is a test from Klaxon, not an alert.".into()),
        held_back: 0,
        fired_at: now,
        kibana_url: None,
        ack_url: None,
        labels: [("klaxon_test".to_string(), "true".to_string())].into(),
        id: None,
        status: crate::alert::Status::Firing,
        acknowledged_by: None,
        escalation: None,
    }
}

/// This machine's name, as the message names where it came from.
fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer it is given.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let name = if ok {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        String::from_utf8_lossy(&buf[..end]).trim().to_string()
    } else {
        String::new()
    };
    if name.is_empty() {
        "an unnamed host".to_string()
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_names_list_every_channel() {
        let known = ["email-oncall".to_string(), "ops-hook".to_string()];
        assert_eq!(
            unknown_channel("ops-hok", known.iter()),
            "unknown channel `ops-hok`; did you mean `ops-hook`? klaxon.yaml defines: email-oncall, ops-hook"
        );
        assert_eq!(
            unknown_channel("pager", known.iter()),
            "unknown channel `pager`; klaxon.yaml defines: email-oncall, ops-hook"
        );
        assert_eq!(
            unknown_channel("pager", [].iter()),
            "unknown channel `pager`; klaxon.yaml defines no channels"
        );
    }

    #[test]
    fn the_test_message_says_what_it_is() {
        let alert = test_alert("ops", "web-1", Utc::now());
        assert_eq!(alert.title(), "[INFO] Klaxon test message (host=web-1)");
        assert!(alert.sample.contains("web-1"));
        assert!(alert
            .description
            .unwrap()
            .contains("klaxon notify-test ops"));
    }
}
