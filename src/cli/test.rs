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
use crate::decode::{DecodeConfig, Format, TimeFormat};
use crate::pipeline::{compile_loaded, Engine};
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
            super::print_diagnostics(&diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let first_line = first_line(&args.input)?;
    let decode = decode_config(args, first_line.as_deref())?;
    let source = rule.config.source.clone();
    let events = crate::source::read_file_events(&args.input, &source, &decode)
        .context("bad --format/--time-field/--time-format")?;
    let compiled = match compile_loaded(&rule, &QueryOptions::default()) {
        Ok(c) => c,
        Err(diagnostics) => {
            super::print_diagnostics(&diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    // Offline, "now" is the time of the event being handled, so the output is
    // reproducible; only events move the rule's clock, and at the end of input every
    // deadline that passed by the last event fires (absence, flatline).
    let clock = Arc::new(ManualClock::new(DateTime::<Utc>::UNIX_EPOCH));
    let mut engine = Engine::replay(vec![compiled], clock.clone());
    let mut raised = Vec::new();
    let mut fired = 0usize;
    for event in &events {
        clock.set(event.time);
        engine.process(event, &mut raised);
        engine.advance(&mut raised);
        for r in raised.drain(..) {
            fired += 1;
            print_alert(&r.alert, args.json);
        }
    }
    engine.finish(&mut raised);
    for r in raised.drain(..) {
        fired += 1;
        print_alert(&r.alert, args.json);
    }
    if !args.json {
        eprintln!(
            "{fired} alert(s) from {} event(s) in {}",
            events.len(),
            args.input.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The first non-blank line, to guess the format and the time field from.
fn first_line(path: &std::path::Path) -> anyhow::Result<Option<String>> {
    use std::io::BufRead;
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = String::from_utf8_lossy(&line?).trim().to_string();
        if !line.is_empty() {
            return Ok(Some(line));
        }
    }
    Ok(None)
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
            "detail": alert.detail,
        });
        println!("{obj}");
    } else {
        let held = if alert.held_back > 0 {
            format!(" (+{} held back)", alert.held_back)
        } else {
            String::new()
        };
        let detail = alert
            .detail
            .as_deref()
            .map(|d| format!(" — {d}"))
            .unwrap_or_default();
        println!(
            "{} {} count={}{} first={} last={}{}\n    {}",
            rfc3339(alert.last_seen),
            alert.title(),
            alert.count,
            held,
            rfc3339(alert.first_seen),
            rfc3339(alert.last_seen),
            detail,
            alert.sample
        );
    }
}
