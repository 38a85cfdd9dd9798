//! `klaxon silence add|list|expire`: silences, beside a running Klaxon (it rereads them
//! every second).

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, Subcommand};

use crate::dispatch::new_silence_row;
use crate::store::{LifecycleStore, SqliteStore};
use crate::types::{flat, HumanDuration};

#[derive(Debug, Args)]
pub struct SilenceArgs {
    #[arg(short, long, default_value = "klaxon.yaml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    action: SilenceAction,
}

#[derive(Debug, Subcommand)]
enum SilenceAction {
    /// Mute alerts matching every `--match` for a while.
    Add(AddArgs),
    /// Silences in force or to come (`--all`: ended ones too).
    List {
        #[arg(long)]
        all: bool,
    },
    /// End a silence now.
    Expire { id: u64 },
}

#[derive(Debug, Args)]
struct AddArgs {
    /// `rule = ghost-orders`, `severity =~ warning|info`, `sku != TEST` (at least one).
    #[arg(long = "match", required = true)]
    matchers: Vec<String>,
    /// How long, from the start (`2h`, `30m`).
    #[arg(long = "for", value_parser = parse_duration, conflicts_with = "until")]
    duration: Option<HumanDuration>,
    /// Or until when (RFC 3339).
    #[arg(long)]
    until: Option<DateTime<Utc>>,
    /// When it starts (RFC 3339; default now).
    #[arg(long)]
    start: Option<DateTime<Utc>>,
    /// Who (default: $USER).
    #[arg(long)]
    author: Option<String>,
    /// Why: shown with the silence.
    #[arg(long, required = true)]
    comment: String,
}

fn parse_duration(s: &str) -> Result<HumanDuration, String> {
    crate::types::parse_duration(s).map(HumanDuration)
}

/// The silence `add` asks for, checked.
fn new_row(add: &AddArgs, now: DateTime<Utc>) -> anyhow::Result<crate::store::SilenceRow> {
    let starts_at = add.start.unwrap_or(now);
    let ends_at = match (add.duration, add.until) {
        (Some(d), None) => starts_at
            .checked_add_signed(d.as_chrono())
            .ok_or_else(|| anyhow::anyhow!("--for is too long"))?,
        (None, Some(until)) => until,
        _ => anyhow::bail!("say how long: --for 2h, or --until TIME"),
    };
    let author = add
        .author
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "cli".into());
    let row = new_silence_row(
        &add.matchers,
        starts_at,
        ends_at,
        &author,
        &add.comment,
        now,
    )
    .map_err(anyhow::Error::msg)?;
    Ok(row)
}

/// The silences as a table (stdout), and how many (stderr).
fn print_rows(rows: &[crate::store::SilenceRow], now: DateTime<Utc>) {
    println!("ID\tSTATE\tMATCHERS\tSTARTS\tENDS\tAUTHOR\tCOMMENT");
    for s in rows {
        let state = s.state(now);
        let matchers: Vec<String> = serde_json::from_str(&s.matchers).unwrap_or_default();
        println!(
            "{}\t{state}\t{}\t{}\t{}\t{}\t{}",
            s.id,
            flat(&matchers.join(", ")),
            time(s.starts_at),
            time(s.ends_at),
            flat(&s.author),
            flat(&s.comment)
        );
    }
    eprintln!("{} silence(s)", rows.len());
}

/// `klaxon silence list` in a cluster: every partition holds every silence in force or to
/// come, so partition 0's owner answers (ended ones are not kept: `--all` shows no more).
fn cluster_list(
    setup: &crate::cluster::ClusterSetup,
    all: bool,
    now: DateTime<Utc>,
) -> anyhow::Result<ExitCode> {
    let ask = crate::cluster::wire::CommandMessage::new(
        "list-silences",
        String::new(),
        std::env::var("USER").unwrap_or_else(|_| "cli".into()),
        now,
    );
    let answer = super::cluster_link::call(setup, |conn| async move {
        crate::cluster::command::send(&conn, 0, ask, std::time::Duration::from_secs(10)).await
    })?;
    let Some(answer) = answer else {
        eprintln!("no worker owning partition 0 answered within 10s");
        return Ok(ExitCode::FAILURE);
    };
    let rows: Vec<crate::store::SilenceRow> = serde_json::from_str(&answer)?;
    if all {
        eprintln!("(a cluster does not keep ended silences)");
    }
    print_rows(&rows, now);
    Ok(ExitCode::SUCCESS)
}

/// Prints the new silence's id (stdout) and what it silences (stderr).
fn report(id: u64, row: &crate::store::SilenceRow) -> anyhow::Result<()> {
    let matchers: Vec<String> = serde_json::from_str(&row.matchers)?;
    println!("{id}");
    eprintln!(
        "silence {id}: {} from {} until {}",
        matchers.join(", "),
        time(row.starts_at),
        time(row.ends_at)
    );
    Ok(())
}

/// A cluster keeps silences in every partition: adding or expiring one is a command to
/// all of them (through their subjects, applied in order by each owner).
fn cluster_silence(
    args: &SilenceArgs,
    setup: &crate::cluster::ClusterSetup,
) -> anyhow::Result<ExitCode> {
    use crate::cluster::wire::CommandMessage;
    let now = Utc::now();
    let id = u64::try_from(now.timestamp_micros()).unwrap_or(1);
    let (command, row) = match &args.action {
        SilenceAction::Add(add) => {
            let mut row = new_row(add, now)?;
            row.id = id;
            let target = serde_json::to_string(&row)?;
            (("silence", target, row.author.clone()), Some(row))
        }
        SilenceAction::Expire { id } => (
            (
                "expire-silence",
                serde_json::json!({ "id": id }).to_string(),
                std::env::var("USER").unwrap_or_else(|_| "cli".into()),
            ),
            None,
        ),
        SilenceAction::List { all } => return cluster_list(setup, *all, now),
    };
    let (kind, target, author) = command;
    let message = CommandMessage::new(kind, target, author, now);
    super::cluster_link::call(setup, |conn| async move {
        crate::cluster::command::broadcast(&conn, setup.partitions, &message).await
    })?;
    match row {
        Some(row) => report(id, &row)?,
        None => eprintln!("expiry sent to every partition"),
    }
    Ok(ExitCode::SUCCESS)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn silence(args: &SilenceArgs) -> anyhow::Result<ExitCode> {
    let global = match super::cluster_link::state_at(&args.config)? {
        None => return Ok(ExitCode::FAILURE),
        Some(super::cluster_link::StateAt::Cluster(setup)) => return cluster_silence(args, &setup),
        Some(super::cluster_link::StateAt::Local(global)) => global,
    };
    let mut store = SqliteStore::open(&global.state_dir)?;
    let now = Utc::now();
    match &args.action {
        SilenceAction::Add(add) => {
            let row = new_row(add, now)?;
            let id = store.add_silence(&row)?;
            report(id, &row)?;
        }
        SilenceAction::List { all } => {
            let rows = if *all {
                store.all_silences()?
            } else {
                store.silences(now)?
            };
            print_rows(&rows, now);
        }
        SilenceAction::Expire { id } => {
            if store.expire_silence(*id, now)? {
                eprintln!("silence {id} expired");
            } else {
                eprintln!("no silence {id} in force");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
