//! `klaxon test RULE --input FILE`: replay a log file through one rule, offline, in
//! event time, and print every alert it would raise (after realert).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::alert::Alert;
use crate::clock::ManualClock;
use crate::decode::{DecodeConfig, Decoder, Format, TimeFormat};
use crate::event::Origin;
use crate::pipeline::{CompiledRule, Engine};
use crate::query::QueryOptions;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The rule file.
    rule: PathBuf,
    /// The log file to feed through it.
    #[arg(long)]
    input: PathBuf,
    /// How to read the lines (default: json when the first line is a JSON object).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// JSON field holding the event time (default: the first of @timestamp, timestamp,
    /// ts, time that the first line has).
    #[arg(long)]
    time_field: Option<String>,
    /// rfc3339, epoch_s, epoch_ms or a strftime pattern; for plain lines, the format of
    /// a leading timestamp (default: try `%Y-%m-%d %H:%M:%S%.f`).
    #[arg(long)]
    time_format: Option<String>,
    /// One JSON object per alert.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Plain,
}

const TIME_FIELDS: &[&str] = &["@timestamp", "timestamp", "ts", "time"];

pub fn test(args: &TestArgs) -> anyhow::Result<ExitCode> {
    let rule = match crate::config::load_rule_file(&args.rule) {
        Ok(rule) => rule,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let text = std::fs::read(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?;
    let text = String::from_utf8_lossy(&text);
    let decode = decode_config(args, text.lines().find(|l| !l.trim().is_empty()))?;
    let decoder = Decoder::new(&decode).context("bad --format/--time-field/--time-format")?;

    let source = rule.config.source.clone();
    let compiled = match CompiledRule::compile(rule.config.clone(), &QueryOptions::default()) {
        Ok(c) => c,
        Err(e) => {
            let d = crate::config::at_query(&rule, e.column(), e.message().to_string());
            eprintln!("{d}");
            return Ok(ExitCode::FAILURE);
        }
    };
    // Lines without a readable time get the file's modification time; offline, "now" is
    // the time of the event being handled, so the output is reproducible.
    let start: DateTime<Utc> = std::fs::metadata(&args.input)
        .and_then(|m| m.modified())
        .map(DateTime::from)
        .unwrap_or_else(|_| Utc::now());
    let clock = Arc::new(ManualClock::new(start));
    let mut engine = Engine::new(vec![compiled], Vec::new(), None, clock.clone());
    let origin = Origin {
        source: Arc::from(source.as_str()),
        path: Arc::from(args.input.display().to_string().as_str()),
        fingerprint: Arc::from("offline"),
        offset: 0,
    };
    let mut raised = Vec::new();
    let mut offset = 0u64;
    let mut fired = 0usize;
    for line in text.lines() {
        offset += line.len() as u64 + 1;
        if line.trim().is_empty() {
            continue;
        }
        let event = decoder.decode(
            line.to_string(),
            Origin {
                offset,
                ..origin.clone()
            },
            start,
        );
        clock.set(event.time);
        engine.process(&event, &mut raised);
        for r in raised.drain(..) {
            fired += 1;
            print_alert(&r.alert, args.json);
        }
    }
    if !args.json {
        eprintln!("{fired} alert(s) from {}", args.input.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn decode_config(args: &TestArgs, first_line: Option<&str>) -> anyhow::Result<DecodeConfig> {
    let first_json = first_line
        .and_then(|l| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(l).ok());
    let format = match args.format {
        Some(FormatArg::Json) => Format::Json,
        Some(FormatArg::Plain) => Format::Plain,
        None if first_json.is_some() => Format::Json,
        None => Format::Plain,
    };
    let time_format = args
        .time_format
        .as_deref()
        .map(str::parse::<TimeFormat>)
        .transpose()?;
    let (time_field, time_format) = match format {
        Format::Json => {
            let field = args.time_field.clone().or_else(|| {
                let first = first_json.as_ref()?;
                TIME_FIELDS
                    .iter()
                    .find(|f| first.contains_key(**f))
                    .map(|f| f.to_string())
            });
            (field, time_format)
        }
        Format::Plain => {
            let default = "%Y-%m-%d %H:%M:%S%.f".parse::<TimeFormat>()?;
            (None, Some(time_format.unwrap_or(default)))
        }
    };
    Ok(DecodeConfig {
        format,
        time_field,
        time_format,
    })
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn print_alert(alert: &Alert, as_json: bool) {
    if as_json {
        let obj = json!({
            "rule": alert.rule,
            "severity": alert.severity,
            "key": alert.key,
            "count": alert.count,
            "first_seen": rfc3339(alert.first_seen),
            "last_seen": rfc3339(alert.last_seen),
            "held_back": alert.held_back,
            "sample": alert.sample,
        });
        println!("{obj}");
    } else {
        let held = if alert.held_back > 0 {
            format!(" (+{} held back)", alert.held_back)
        } else {
            String::new()
        };
        println!(
            "{} {} count={}{} first={} last={}\n    {}",
            rfc3339(alert.last_seen),
            alert.title(),
            alert.count,
            held,
            rfc3339(alert.first_seen),
            rfc3339(alert.last_seen),
            alert.sample
        );
    }
}
