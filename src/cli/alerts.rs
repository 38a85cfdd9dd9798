//! `klaxon alerts`, `klaxon ack`, `klaxon resolve`: the alert lifecycle from the shell,
//! beside a running Klaxon. Listing reads the store; acknowledging and resolving queue a
//! command the running Klaxon applies within a second (and sends its notices), or applies
//! when it next starts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use clap::{Args, ValueEnum};

use super::cluster_link::StateAt;
use crate::alert::AlertKey;
use crate::dispatch::{AlertState, Target};
use crate::store::{LifecycleStore, SqliteStore, StateLock, StoreError};
use crate::types::flat;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateFilter {
    Firing,
    Acknowledged,
    Resolved,
    /// Firing or acknowledged.
    Open,
    All,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[arg(short, long, default_value = "klaxon.yaml")]
    config: PathBuf,
    /// Which alerts.
    #[arg(long, value_enum, default_value = "open")]
    state: StateFilter,
    /// Also print each alert's history.
    #[arg(long)]
    history: bool,
}

#[derive(Debug, Args)]
pub struct TargetArgs {
    #[arg(short, long, default_value = "klaxon.yaml")]
    config: PathBuf,
    /// The alert's id, as `klaxon alerts` shows it.
    id: Option<u64>,
    /// Or its rule…
    #[arg(long, conflicts_with = "id", requires = "key")]
    rule: Option<String>,
    /// …and its key: `--key sku=A-1` (once per `group_by` field; none for a rule without).
    #[arg(long, value_parser = parse_pair)]
    key: Vec<(String, String)>,
    /// Who does it (default: $USER).
    #[arg(long)]
    by: Option<String>,
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{s}` is not `field=value`"))
}

impl TargetArgs {
    fn target(&self) -> anyhow::Result<Target> {
        match (&self.id, &self.rule) {
            (Some(id), None) => Ok(Target::Id { id: *id }),
            (None, Some(rule)) => Ok(Target::Key {
                rule: rule.clone(),
                key: AlertKey::new(self.key.iter().cloned()).id(),
            }),
            _ => anyhow::bail!("name the alert: its id, or --rule R --key field=value"),
        }
    }

    fn author(&self) -> String {
        self.by
            .clone()
            .or_else(|| std::env::var("USER").ok())
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| "cli".into())
    }
}

/// The same for a cluster: the command goes to the owner of the alert's partition (through
/// the partition's own subject), which answers if it is running.
fn cluster_command(
    kind: &str,
    target: &Target,
    author: &str,
    setup: &crate::cluster::ClusterSetup,
) -> anyhow::Result<ExitCode> {
    use crate::cluster::command::{partition_of_alert, send};
    let partition = match target {
        Target::Id { id } => match partition_of_alert(*id, setup.partitions) {
            Some(p) => p,
            None => {
                eprintln!("{id} is not an alert id of this cluster");
                return Ok(ExitCode::FAILURE);
            }
        },
        Target::Key { rule, key } => {
            crate::cluster::partition::partition_of(rule, key, setup.partitions)
        }
    };
    let now = Utc::now();
    let command = crate::cluster::wire::CommandMessage::new(
        kind,
        serde_json::to_string(target)?,
        author.to_string(),
        now,
    );
    let answer = super::cluster_link::call(setup, |conn| async move {
        send(&conn, partition, command, Duration::from_secs(10)).await
    })?;
    match answer {
        Some(answer) => println!("{}", flat(&answer)),
        None => eprintln!(
            "queued in partition {partition}; no worker has answered yet (it is applied when one owns the partition)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `klaxon alerts`: id, state, muted, escalation level, rule, key, since, next action.
pub fn alerts(args: &AlertsArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = super::state_dir(&args.config) else {
        return Ok(ExitCode::FAILURE);
    };
    let store = SqliteStore::open(&dir)?;
    let (records, _) = store.lifecycle()?;
    let mut shown = 0;
    println!("ID\tSTATE\tMUTED\tLEVEL\tRULE\tKEY\tSINCE\tNEXT");
    for record in records {
        let Ok(a) = serde_json::from_str::<AlertState>(&record.record) else {
            eprintln!("alert {}: unreadable record", record.id);
            continue;
        };
        let wanted = match args.state {
            StateFilter::All => true,
            StateFilter::Open => a.status != crate::alert::Status::Resolved,
            StateFilter::Firing => a.status == crate::alert::Status::Firing,
            StateFilter::Acknowledged => a.status == crate::alert::Status::Acknowledged,
            StateFilter::Resolved => a.status == crate::alert::Status::Resolved,
        };
        if !wanted {
            continue;
        }
        shown += 1;
        let muted = match (a.silenced_by, a.inhibited) {
            (Some(s), _) => format!("silence {s}"),
            (None, true) => "inhibited".into(),
            (None, false) => "-".into(),
        };
        let level = a.escalation.as_ref().map_or("-".to_string(), |e| {
            format!("{}/{}", e.next, e.policy.levels.len())
        });
        let next = match (&a.escalation, a.is_firing()) {
            (Some(e), true) => e.due_at().map_or("-".into(), |t| {
                let level = e.next + 1;
                format!("level {level} at {}", time(t))
            }),
            _ => "-".into(),
        };
        let status = match (&a.acknowledged_by, a.status) {
            (Some(by), crate::alert::Status::Acknowledged) => {
                format!("acknowledged by {}", flat(by))
            }
            (_, s) => s.as_str().to_string(),
        };
        println!(
            "{}\t{status}\t{muted}\t{level}\t{}\t{}\t{}\t{next}",
            a.id,
            flat(&a.alert.rule),
            flat(&a.alert.key_text()),
            time(a.started_at),
        );
        if args.history {
            for h in store.history(a.id)? {
                println!("\t{}\t{}\t{}", time(h.at), h.kind, flat(&h.detail));
            }
        }
    }
    eprintln!("{shown} alert(s)");
    Ok(ExitCode::SUCCESS)
}

/// `klaxon ack` / `klaxon resolve`: queues the command, then waits briefly for the running
/// Klaxon's answer.
pub fn command(kind: &str, args: &TargetArgs) -> anyhow::Result<ExitCode> {
    let target = args.target()?;
    let global = match super::cluster_link::state_at(&args.config)? {
        None => return Ok(ExitCode::FAILURE),
        Some(StateAt::Cluster(setup)) => {
            return cluster_command(kind, &target, &args.author(), &setup)
        }
        Some(StateAt::Local(global)) => global,
    };
    let dir = global.state_dir;
    let mut store = SqliteStore::open(&dir)?;
    let (records, _) = store.lifecycle()?;
    let exists = records.iter().any(|r| match &target {
        Target::Id { id } => r.id == *id,
        Target::Key { rule, key } => &r.rule == rule && &r.key == key,
    });
    if !exists {
        eprintln!("no such alert (see `klaxon alerts --state all`)");
        return Ok(ExitCode::FAILURE);
    }
    let id = store.queue_command(
        kind,
        &serde_json::to_string(&target)?,
        &args.author(),
        Utc::now(),
    )?;
    let running = match StateLock::acquire(&dir) {
        Ok(_) => false,
        Err(StoreError::InUse { .. }) => true,
        Err(e) => return Err(e.into()),
    };
    if !running {
        eprintln!("queued: Klaxon is not running; it is applied when Klaxon starts");
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Some(result) = store.command(id)?.and_then(|c| c.result) {
            println!("{result}");
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("queued; the running Klaxon has not answered yet");
    Ok(ExitCode::SUCCESS)
}
