//! `klaxon test RULE --input FILE`: replay a log file through one rule, offline, in event
//! time, and print every alert it would raise (after realert) and when.
//!
//! With a klaxon.yaml (`-c`, or `./klaxon.yaml` when present) the file is read exactly as
//! `klaxon run` reads the rule's source: its decoder, multiline, time field and zone, and
//! the declared field types. Without one, `--format` and friends describe the file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};
use serde_json::json;

use crate::alert::Alert;
use crate::config::{LoadedConfig, LoadedRule};
use crate::decode::{LineFormat, TimeFormat, TimeZone};
use crate::pipeline::{compile_loaded, replay, ReplayInput, ReplayReport, RuleContext};
use crate::source::{FileSourceConfig, SourceConfig};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The rule file.
    rule: PathBuf,
    /// The log file to feed through it, read as the rule's source; `SOURCE=FILE` reads it
    /// as another source (the second side of a `mismatch`). Repeatable.
    #[arg(long, required = true, value_name = "[SOURCE=]FILE")]
    input: Vec<String>,
    /// klaxon.yaml whose sources say how to read the input (default: ./klaxon.yaml when
    /// it exists).
    #[arg(short, long, conflicts_with = "no_config")]
    config: Option<PathBuf>,
    /// Ignore ./klaxon.yaml: describe the input with --format and friends.
    #[arg(long)]
    no_config: bool,
    /// Without a config: how to read the lines (default: json when the first line is a
    /// JSON object, else plain).
    #[arg(long, value_enum)]
    format: Option<FormatArg>,
    /// Without a config, for `--format regex`: a regex with named groups, or a preset
    /// (nginx_combined, apache_combined, apache_common).
    #[arg(long)]
    pattern: Option<String>,
    /// Without a config: the field holding the event time (default: the first of
    /// @timestamp, timestamp, ts, time that a JSON first line has).
    #[arg(long)]
    time_field: Option<String>,
    /// Without a config: rfc3339, epoch_s, epoch_ms or a strftime pattern; for plain
    /// lines, the format of a leading timestamp (default: `%Y-%m-%d %H:%M:%S%.f`).
    #[arg(long)]
    time_format: Option<String>,
    /// Without a config: the zone of timestamps written without one (default: local).
    #[arg(long)]
    timezone: Option<String>,
    /// One JSON object per alert on stdout (the summary still goes to stderr).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Json,
    Plain,
    Logfmt,
    Regex,
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
    let config_path = args.config.clone().or_else(|| {
        let default = PathBuf::from("klaxon.yaml");
        (!args.no_config && default.is_file()).then_some(default)
    });
    let global = match &config_path {
        Some(path) => match crate::config::load_global(path) {
            Ok(loaded) => {
                super::print_diagnostics(&loaded.warnings);
                // The rule must also be one `klaxon run` would accept with this config.
                let problems = crate::config::check_rule_against(&loaded, &rule);
                if problems.has_errors() {
                    super::print_diagnostics(&problems);
                    return Ok(ExitCode::FAILURE);
                }
                Some(loaded)
            }
            Err(diagnostics) => {
                super::print_diagnostics(&diagnostics);
                return Ok(ExitCode::FAILURE);
            }
        },
        None => None,
    };
    if global.is_some() {
        let shortcut = [
            (args.format.is_some(), "--format"),
            (args.pattern.is_some(), "--pattern"),
            (args.time_field.is_some(), "--time-field"),
            (args.time_format.is_some(), "--time-format"),
            (args.timezone.is_some(), "--timezone"),
        ];
        if let Some((_, flag)) = shortcut.iter().find(|(set, _)| *set) {
            bail!(
                "{flag} only applies without a klaxon.yaml: the rule's source in {} says how to read the input (--no-config ignores ./klaxon.yaml)",
                config_path.as_deref().unwrap_or(Path::new("klaxon.yaml")).display()
            );
        }
    }
    let context = global
        .as_ref()
        .map_or_else(RuleContext::default, RuleContext::of);
    let built = match compile_loaded(&rule, &context) {
        Ok((built, warnings)) => {
            super::print_diagnostics(&warnings);
            built
        }
        Err(diagnostics) => {
            super::print_diagnostics(&diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    };
    let inputs = inputs(args, &rule, global.as_ref())?;
    for source in built.sources() {
        if !inputs.iter().any(|(i, _)| &i.source == source) {
            eprintln!("klaxon: warning: no --input for source `{source}`, which the rule also reads (give one as --input {source}=FILE)");
        }
    }
    let written = written_at(&inputs[0].1);
    let inputs: Vec<ReplayInput> = inputs.into_iter().map(|(input, _)| input).collect();
    let as_json = args.json;
    let report = replay(vec![built], inputs.clone(), written, &mut |alert| {
        print_alert(alert, as_json)
    })?;
    summarize(&report, &args.input, &rule.config.name);
    Ok(ExitCode::SUCCESS)
}

/// Each `--input` as the source it is read as, with its path.
fn inputs(
    args: &TestArgs,
    rule: &LoadedRule,
    global: Option<&LoadedConfig>,
) -> anyhow::Result<Vec<(ReplayInput, PathBuf)>> {
    let mut out = Vec::new();
    for input in &args.input {
        let (source, path) = match input.split_once('=') {
            Some((source, path)) if !Path::new(input).exists() => (source.to_string(), path),
            _ => (rule.config.source.clone(), input.as_str()),
        };
        let path = Path::new(path);
        let polled = global.and_then(|loaded| {
            let cfg = loaded.global.sources.get(&source)?;
            cfg.replay_of(path).err().map(|e| (loaded, e))
        });
        if let Some((loaded, e)) = polled {
            bail!(
                "source `{source}` ({}) cannot be replayed: {e}",
                loaded.path.display()
            );
        }
        if !path.is_file() {
            bail!("cannot read --input {}: not a file", path.display());
        }
        let config = match global {
            Some(loaded) => match loaded.global.sources.get(&source) {
                Some(cfg) => cfg.replay_of(path).map_err(anyhow::Error::msg)?,
                None => {
                    let known: Vec<&str> =
                        loaded.global.sources.keys().map(String::as_str).collect();
                    bail!(
                        "source `{source}` is not defined in {} (defined: {})",
                        loaded.path.display(),
                        known.join(", ")
                    );
                }
            },
            None => SourceConfig::File(shortcut_source(args, path)?)
                .replay_of(path)
                .map_err(anyhow::Error::msg)?,
        };
        out.push((ReplayInput { source, config }, path.to_path_buf()));
    }
    Ok(out)
}

/// The source `--format`, `--time-field`, … describe (guessing from the first line).
fn shortcut_source(args: &TestArgs, path: &Path) -> anyhow::Result<FileSourceConfig> {
    let first_json = first_line(path)?
        .and_then(|l| serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&l).ok());
    let format = match args.format {
        Some(FormatArg::Json) => LineFormat::Json,
        Some(FormatArg::Plain) => LineFormat::Plain,
        Some(FormatArg::Logfmt) => LineFormat::Logfmt,
        Some(FormatArg::Regex) => LineFormat::Regex,
        None if first_json.is_some() => LineFormat::Json,
        None => LineFormat::Plain,
    };
    let mut config = FileSourceConfig::new(vec![path.to_string_lossy().into_owned()]);
    config.format = format;
    config.pattern = args.pattern.clone();
    config.time_format = args
        .time_format
        .as_deref()
        .map(str::parse::<TimeFormat>)
        .transpose()?;
    if let Some(zone) = &args.timezone {
        config.timezone = zone.parse::<TimeZone>()?;
    }
    if format.has_fields() {
        config.time_field = args.time_field.clone().or_else(|| {
            let first = first_json.as_ref()?;
            let field = TIME_FIELDS.iter().find(|f| first.contains_key(**f))?;
            Some(field.to_string())
        });
        if config.time_field.is_none() {
            config.time_format = None;
        }
    } else if config.time_format.is_none() {
        config.time_format = Some("%Y-%m-%d %H:%M:%S%.f".parse()?);
    }
    config
        .validate()
        .map_err(|e| anyhow::anyhow!("bad --format/--time-field/--time-format: {e}"))?;
    Ok(config)
}

/// When the file was last written: the time of its events that carry none.
fn written_at(path: &Path) -> DateTime<Utc> {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now())
}

/// The first non-blank line, to guess the format and the time field from.
fn first_line(path: &Path) -> anyhow::Result<Option<String>> {
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

fn summarize(report: &ReplayReport, inputs: &[String], rule: &str) {
    let files: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let matched = report.rules.iter().map(|r| r.matched).sum::<u64>();
    let late = report.rules.iter().map(|r| r.late).sum::<u64>();
    let late = if late > 0 {
        format!(" ({late} of them dropped as later than `allowed_lateness`)")
    } else {
        String::new()
    };
    eprintln!(
        "{} line(s) read from {}: {} event(s) decoded, {matched} matched the query of `{rule}`{late}; {} alert(s)",
        report.lines,
        files.join(", "),
        report.events,
        report.alerts
    );
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
            "fired_at": rfc3339(alert.fired_at),
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
        let head = format!(
            "{} {} count={}{} first={} last={}{}",
            rfc3339(alert.fired_at),
            alert.title(),
            alert.count,
            held,
            rfc3339(alert.first_seen),
            rfc3339(alert.last_seen),
            detail,
        );
        // Log text (key values, the sample) cannot forge a line or a terminal escape.
        println!("{}\n    {}", one_line(&head), one_line(&alert.sample));
    }
}

/// `text` made safe for one terminal line: control characters replaced, line breaks shown
/// as `\n`.
fn one_line(text: &str) -> String {
    crate::notify::sanitize(text)
        .replace('\n', "\\n")
        .replace('\t', " ")
}
