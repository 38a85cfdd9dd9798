//! The `klaxon` command line: one file per subcommand.

mod alerts;
mod channel_send;
mod check;
mod cluster_link;
mod dlq;
mod import;
mod install;
mod notify_test;
mod replay;
mod replay_progress;
mod replay_report;
mod run;
mod schema;
mod silence;
mod status;
mod test;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

use crate::types::HumanDuration;

/// `klaxon --version`: the version and the git revision it was built from (`build.rs`;
/// `unknown` when built without a checkout).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (rev ",
    env!("KLAXON_GIT_REV"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "klaxon",
    version = VERSION,
    about = "Tail logs, match Lucene-style rules, alert the right people once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter for Klaxon's own diagnostics (stderr), e.g. `info`, `klaxon=debug`.
    #[arg(long, global = true, env = "KLAXON_LOG", default_value = "info")]
    log: String,
    /// How Klaxon's own diagnostics (stderr) are written: `pretty`, a line for people
    /// (coloured on a terminal only), or `json`, one object per line for log collectors.
    #[arg(
        long,
        global = true,
        env = "KLAXON_LOG_FORMAT",
        value_enum,
        ignore_case = true,
        default_value = "pretty"
    )]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the pipeline: tail sources, match rules, deliver alerts.
    Run {
        #[arg(short, long, default_value = "klaxon.yaml")]
        config: PathBuf,
        /// Read every source to its current end, deliver what is due, then exit (a catch-up
        /// from cron, or a benchmark); without it Klaxon follows its sources until stopped.
        #[arg(long)]
        once: bool,
    },
    /// Validate the configuration and every rule; print every problem; exit 1 if any.
    Check {
        #[arg(short, long, default_value = "klaxon.yaml")]
        config: PathBuf,
    },
    /// Feed a log file through one rule offline, in event time, and print the alerts it would raise.
    Test(test::TestArgs),
    /// Every rule over historical logs in event time, sending nothing: how many alerts each
    /// would have raised, when, for which keys, and what realert and grouping held back.
    Replay(replay::ReplayArgs),
    /// Dead letters (deliveries given up on): list, retry or drop them.
    Dlq(dlq::DlqArgs),
    /// Alerts with their state, escalation level and next action.
    Alerts(alerts::AlertsArgs),
    /// Acknowledge an alert: its escalation stops, and whoever was told hears who owns it.
    Ack(alerts::TargetArgs),
    /// Resolve an alert by hand: whoever was told hears it is over.
    Resolve(alerts::TargetArgs),
    /// Silences: mute matching alerts for a while.
    Silence(silence::SilenceArgs),
    /// Generate a consignment-order service's logs with injected anomalies and alert on them.
    Demo {
        /// How long the demo runs.
        #[arg(long, default_value = "30s", value_parser = parse_duration_arg)]
        duration: HumanDuration,
        /// Only write the order service's logs into this directory (`order-service.log`),
        /// without running the pipeline: the log generator of the compose stack.
        #[arg(long, value_name = "DIR")]
        logs_to: Option<PathBuf>,
    },
    /// Convert another tool's rules into Klaxon's (`klaxon import elastalert RULES_DIR`).
    Import(import::ImportArgs),
    /// The running Klaxon's health: sources, channels, store, warnings (from its HTTP API).
    Status(status::StatusArgs),
    /// Send one test message through a channel and print what the service answered.
    NotifyTest(notify_test::NotifyTestArgs),
    /// Print the JSON Schema of klaxon.yaml (`config`) or of a rule file (`rule`), or with
    /// `--markdown` the reference of every key (docs/CONFIG.md).
    Schema(schema::SchemaArgs),
    /// Print a shell completion script (`klaxon completions bash > /etc/bash_completion.d/klaxon`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, roff (`klaxon man > /usr/local/share/man/man1/klaxon.1`).
    Man {
        /// Instead, write klaxon.1 and a page per subcommand (klaxon-run.1, …) into DIR.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn parse_duration_arg(s: &str) -> Result<HumanDuration, String> {
    crate::types::parse_duration(s).map(HumanDuration)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log, cli.log_format);
    let result = match cli.command {
        Command::Run { config, once } => run::run(&config, once),
        Command::Check { config } => check::check(&config),
        Command::Test(args) => test::test(&args),
        Command::Replay(args) => replay::replay(&args),
        Command::Dlq(args) => dlq::dlq(&args),
        Command::Alerts(args) => alerts::alerts(&args),
        Command::Ack(args) => alerts::command("ack", &args),
        Command::Resolve(args) => alerts::command("resolve", &args),
        Command::Silence(args) => silence::silence(&args),
        Command::Demo {
            duration,
            logs_to: Some(dir),
        } => crate::demo::logs_only(&dir, duration.0),
        Command::Demo { duration, .. } => crate::demo::demo(duration.0),
        Command::Status(args) => status::status(&args),
        Command::Import(args) => import::import(&args),
        Command::NotifyTest(args) => notify_test::notify_test(&args),
        Command::Schema(args) => schema::schema(&args),
        Command::Completions { shell } => Ok(install::completions(shell, Cli::command())),
        Command::Man { dir: None } => Ok(install::man(Cli::command())),
        Command::Man { dir: Some(dir) } => install::man_pages(Cli::command(), &dir),
    };
    match result {
        Ok(code) => code,
        Err(e) if json_logs() => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("klaxon: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Set by `--log-format json`: what Klaxon says on stderr by itself (configuration
/// problems, the error it stops on) goes through the JSON log too, so a log collector
/// reads every line.
static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn json_logs() -> bool {
    JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed)
}

/// Klaxon's own diagnostics on stderr, filtered by `--log`.
fn init_logging(filter: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    match format {
        LogFormat::Pretty => {
            // Colour only for a terminal (and not under NO_COLOR): a log file or a pipe
            // gets plain `key=value` lines.
            use std::io::IsTerminal;
            let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            builder.with_ansi(colour).init();
        }
        // The event's fields beside `timestamp` and `level`, not nested: what log
        // collectors index.
        LogFormat::Json => {
            JSON_LOGS.store(true, std::sync::atomic::Ordering::Relaxed);
            builder.json().flatten_event(true).with_ansi(false).init();
        }
    }
}

/// A shutdown signal that turns true on Ctrl-C or SIGTERM. A second one exits at once:
/// everything handled is committed, and pending deliveries stay in the outbox.
fn shutdown_on_signals() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            let mut signals = 0;
            loop {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                signals += 1;
                if signals == 1 {
                    tracing::info!("shutting down (again to exit at once)");
                    let _ = tx.send(true);
                } else {
                    tracing::warn!("exiting at once; pending deliveries stay in the outbox");
                    std::process::exit(130);
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("shutting down");
            let _ = tx.send(true);
        }
    });
    rx
}

/// `KLAXON_LISTEN` overrides `server.listen` (`none` turns the server off): one setting
/// for containers and test harnesses that run many Klaxons on one host.
fn listen_override(server: &mut crate::server::ServerSetting) -> anyhow::Result<()> {
    let Ok(listen) = std::env::var("KLAXON_LISTEN") else {
        return Ok(());
    };
    let listen = listen.trim();
    if listen == "none" {
        *server = crate::server::ServerSetting::Off;
        return Ok(());
    }
    if listen.parse::<std::net::SocketAddr>().is_err() {
        anyhow::bail!("KLAXON_LISTEN=`{listen}` is not `host:port` with an IP address, nor `none`");
    }
    match server {
        crate::server::ServerSetting::On(config) => config.listen = listen.to_string(),
        off => {
            *off = crate::server::ServerSetting::On(crate::server::ServerConfig {
                listen: listen.to_string(),
                ..Default::default()
            })
        }
    }
    Ok(())
}

/// Diagnostics on stderr, each ending its line.
fn print_diagnostics(diagnostics: &crate::config::Diagnostics) {
    for d in diagnostics.iter() {
        if json_logs() {
            let (file, line, column) = (d.file.display(), d.line, d.column);
            match d.severity {
                crate::config::Level::Error => {
                    tracing::error!(%file, line, column, "{}", d.message)
                }
                crate::config::Level::Warning => {
                    tracing::warn!(%file, line, column, "{}", d.message)
                }
            }
            continue;
        }
        let text = d.to_string();
        eprintln!("{}", text.trim_end());
    }
}

/// The state directory klaxon.yaml names (its problems printed; `None` when it has errors),
/// for the commands that work on the store beside a running Klaxon.
fn state_dir(config: &std::path::Path) -> Option<std::path::PathBuf> {
    crate::config::load_global(config)
        .map_err(|d| print_diagnostics(&d))
        .ok()
        .map(|loaded| loaded.global.state_dir)
}

/// Load the configuration, printing every problem; `None` when it has errors.
fn load_config(path: &std::path::Path) -> Option<crate::config::LoadedConfig> {
    match crate::config::load(path) {
        Ok(loaded) => {
            print_diagnostics(&loaded.warnings);
            Some(loaded)
        }
        Err(diagnostics) => {
            print_diagnostics(&diagnostics);
            None
        }
    }
}
