//! `klaxon replay -c klaxon.yaml`: every rule over historical logs, in event time, sending
//! nothing (unless `--send CHANNEL`) — how many alerts each rule would have raised, when, for which keys, and what
//! realert and grouping would have held back — so a threshold is tuned before it pages
//! anyone.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, ValueEnum};

use super::channel_send::{ChannelSender, NoAnswer};
use super::replay_progress::Progress;
use super::replay_report::Tally;
use crate::pipeline::{compile_rules, replay_with, ReplayHooks, ReplayInput, ReplayOptions};
use crate::source::SourceConfig;

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[arg(short, long, default_value = "klaxon.yaml")]
    config: PathBuf,
    /// Only events at or after this time: RFC 3339, `2026-11-23`, `2026-11-23T08:00`, or an
    /// age such as `7d` (that long before now).
    #[arg(long, value_parser = parse_time)]
    from: Option<DateTime<Utc>>,
    /// Only events at or before this time (same forms).
    #[arg(long, value_parser = parse_time)]
    to: Option<DateTime<Utc>>,
    /// Log files to replay: `SOURCE=FILE`, or FILE read as the only file source. Repeatable.
    #[arg(long, value_name = "[SOURCE=]FILE", conflicts_with = "source")]
    input: Vec<String>,
    /// Replay the files a source's `include` matches now. Repeatable. Default: every file
    /// source.
    #[arg(long, value_name = "NAME")]
    source: Vec<String>,
    /// Only these rules (by name). Repeatable. Default: every enabled rule.
    #[arg(long, value_name = "NAME")]
    rule: Vec<String>,
    /// The report as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Also send the alerts through this channel of klaxon.yaml (at most --send-limit,
    /// the earliest first, one a second, each marked as replayed): see a real message
    /// before going live. Without it nothing is sent.
    #[arg(long, value_name = "CHANNEL")]
    send: Option<String>,
    /// Most alerts --send sends.
    #[arg(long, default_value_t = 20, value_name = "N")]
    send_limit: usize,
    /// Progress on stderr: a bar on a terminal (auto), also plain lines elsewhere
    /// (always), or none.
    #[arg(long, value_enum, default_value = "auto")]
    progress: ProgressMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ProgressMode {
    Auto,
    Always,
    Never,
}

pub fn replay(args: &ReplayArgs) -> anyhow::Result<ExitCode> {
    let Some(loaded) = super::load_config(&args.config) else {
        return Ok(ExitCode::FAILURE);
    };
    let mut rules = match compile_rules(&loaded) {
        Ok((rules, warnings)) => {
            super::print_diagnostics(&warnings);
            rules
        }
        Err(problems) => {
            super::print_diagnostics(&problems);
            return Ok(ExitCode::FAILURE);
        }
    };
    for name in &args.rule {
        if !rules.iter().any(|r| &r.name == name) {
            let known: Vec<&str> = rules.iter().map(|r| r.name.as_str()).collect();
            bail!(
                "no rule `{name}` in {} (rules: {})",
                args.config.display(),
                known.join(", ")
            );
        }
    }
    rules.retain(|r| r.settings.enabled && (args.rule.is_empty() || args.rule.contains(&r.name)));
    if rules.is_empty() {
        bail!("no enabled rule to replay");
    }
    if let Some(name) = &args.send {
        if !loaded.global.channels.contains_key(name) {
            let known: Vec<&str> = loaded.global.channels.keys().map(String::as_str).collect();
            bail!(
                "--send {name}: no such channel in {} (channels: {})",
                args.config.display(),
                known.join(", ")
            );
        }
    }
    let inputs = inputs(args, &loaded)?;
    let total: u64 = inputs
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let written = inputs
        .iter()
        .filter_map(|(_, p)| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .max()
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(Utc::now);
    let files = inputs.len();
    let inputs: Vec<ReplayInput> = inputs.into_iter().map(|(i, _)| i).collect();

    let tally = std::cell::RefCell::new(Tally::new(&rules));
    let to_send: std::cell::RefCell<Vec<crate::alert::Alert>> = Default::default();
    let mut progress = Progress::new(
        total,
        args.progress == ProgressMode::Always,
        args.progress != ProgressMode::Never,
    );
    let started = Instant::now();
    let options = ReplayOptions {
        from: args.from,
        to: args.to,
        dispatch: Some(loaded.global.dispatch_setup()),
    };
    let report = replay_with(
        rules,
        inputs,
        written,
        options,
        ReplayHooks {
            on_alert: &mut |a| {
                tally.borrow_mut().alert(a);
                if args.send.is_some() && to_send.borrow().len() < args.send_limit {
                    to_send.borrow_mut().push(a.clone());
                }
            },
            on_message: &mut |n| tally.borrow_mut().message(n),
            on_progress: &mut |p| progress.update(p),
        },
    )?;
    progress.finish();
    let elapsed = started.elapsed();
    let summary = tally.into_inner().finish(&report, total, files, elapsed);
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{}", summary.to_text());
        if args.send.is_none() {
            println!("\nNothing was sent (--send CHANNEL sends the alerts through a channel).");
        }
    }
    match &args.send {
        Some(name) => send(&loaded, name, to_send.into_inner()),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Sends `alerts` through the channel `name`, one a second (within every channel's rate
/// limit), each marked as replayed; reports each outcome on stderr; exit 1 if any failed.
fn send(
    loaded: &crate::config::LoadedConfig,
    name: &str,
    alerts: Vec<crate::alert::Alert>,
) -> anyhow::Result<ExitCode> {
    let sender = ChannelSender::new(&loaded.global, name, &loaded.global.channels[name])?;
    let total = alerts.len();
    let mut failed = 0;
    for (i, mut alert) in alerts.into_iter().enumerate() {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        alert.labels.insert("klaxon_replay".into(), "true".into());
        alert.detail = Some(match alert.detail.take() {
            Some(d) => format!("(replayed from history) {d}"),
            None => "(replayed from history)".into(),
        });
        match sender.send(&alert) {
            Ok(Ok(_)) => eprintln!("sent {}/{total} through `{name}`", i + 1),
            Ok(Err(e)) => {
                failed += 1;
                eprintln!(
                    "klaxon: --send {name}: {}",
                    crate::notify::sanitize(&e.to_string())
                );
            }
            Err(NoAnswer) => {
                failed += 1;
                eprintln!(
                    "klaxon: --send {name}: no answer within {:?}",
                    sender.timeout
                );
            }
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Each input as the source it is read as, with its path.
fn inputs(
    args: &ReplayArgs,
    loaded: &crate::config::LoadedConfig,
) -> anyhow::Result<Vec<(ReplayInput, PathBuf)>> {
    let sources = &loaded.global.sources;
    let file_sources: Vec<&String> = sources
        .iter()
        .filter(|(_, c)| matches!(c, SourceConfig::File(_)))
        .map(|(n, _)| n)
        .collect();
    let mut pairs: Vec<(String, PathBuf)> = Vec::new();
    for input in &args.input {
        match input.split_once('=') {
            Some((source, path)) if !Path::new(input).exists() => {
                pairs.push((source.to_string(), PathBuf::from(path)))
            }
            _ => match file_sources.as_slice() {
                [only] => pairs.push(((*only).clone(), PathBuf::from(input))),
                _ => bail!(
                    "--input {input}: name its source as SOURCE=FILE ({} defines {})",
                    loaded.path.display(),
                    sources.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            },
        }
    }
    if args.input.is_empty() {
        let names: Vec<&String> = if args.source.is_empty() {
            file_sources.clone()
        } else {
            args.source.iter().collect()
        };
        for name in names {
            let Some(SourceConfig::File(file)) = sources.get(name) else {
                bail!(
                    "--source {name}: not a file source in {} (file sources: {}); give its logs with --input {name}=FILE",
                    loaded.path.display(),
                    file_sources.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                );
            };
            let before = pairs.len();
            for pattern in &file.include {
                let found =
                    glob::glob(pattern).with_context(|| format!("source `{name}`: `{pattern}`"))?;
                for path in found.flatten() {
                    let excluded = file
                        .exclude
                        .iter()
                        .filter_map(|e| glob::Pattern::new(e).ok())
                        .any(|e| e.matches_path(&path));
                    if path.is_file() && !excluded {
                        pairs.push((name.clone(), path));
                    }
                }
            }
            if pairs.len() == before {
                eprintln!("klaxon: warning: source `{name}`: `include` matches no file now");
            }
        }
    }
    pairs.sort();
    pairs.dedup();
    if pairs.is_empty() {
        bail!("nothing to replay: give --input FILE or --source NAME");
    }
    let mut out = Vec::new();
    for (source, path) in pairs {
        let Some(config) = sources.get(&source) else {
            bail!(
                "source `{source}` is not defined in {} (defined: {})",
                loaded.path.display(),
                sources.keys().cloned().collect::<Vec<_>>().join(", ")
            );
        };
        if !path.is_file() {
            bail!("cannot read {}: not a file", path.display());
        }
        let config = config
            .replay_of(&path)
            .map_err(|e| anyhow::anyhow!("source `{source}` cannot be replayed: {e}"))?;
        out.push((ReplayInput { source, config }, path));
    }
    Ok(out)
}

/// `2026-11-23T08:00:00Z`, `2026-11-23T08:00` (UTC), `2026-11-23` (UTC midnight), or an age
/// (`7d`, `36h`) before now.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let s = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc());
    }
    if let Ok(age) = crate::types::parse_duration(s) {
        let age = chrono::Duration::from_std(age).map_err(|e| e.to_string())?;
        return Utc::now()
            .checked_sub_signed(age)
            .ok_or_else(|| "too long ago".to_string());
    }
    Err(format!(
        "`{text}` is not a time: RFC 3339, 2026-11-23, 2026-11-23T08:00 (UTC), or an age such as 7d"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_every_form() {
        let t = |s| parse_time(s).unwrap().to_rfc3339();
        assert_eq!(t("2026-11-23T08:00:00+08:00"), "2026-11-23T00:00:00+00:00");
        assert_eq!(t("2026-11-23T08:00"), "2026-11-23T08:00:00+00:00");
        assert_eq!(t("2026-11-23"), "2026-11-23T00:00:00+00:00");
        let week = parse_time("7d").unwrap();
        let expect = Utc::now() - chrono::Duration::days(7);
        assert!((week - expect).num_seconds().abs() < 5);
        assert!(parse_time("yesterday").unwrap_err().contains("not a time"));
        assert!(parse_time("99999d").is_err());
    }
}
