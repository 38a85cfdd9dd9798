//! `klaxon dlq`: the dead letters — deliveries given up on — listed, retried or dropped.
//! Works beside a running Klaxon: a retried letter is picked up by its channel's worker.

use std::path::PathBuf;
use std::process::ExitCode;

use chrono::Utc;
use clap::{Args, Subcommand};

use crate::store::{SqliteStore, StateStore};
use crate::types::flat;

#[derive(Debug, Args)]
pub struct DlqArgs {
    #[arg(short, long, default_value = "klaxon.yaml", global = true)]
    config: PathBuf,
    #[command(subcommand)]
    action: DlqAction,
}

#[derive(Debug, Subcommand)]
enum DlqAction {
    /// Every dead letter: id, channel, rule, key, attempts, why.
    List,
    /// Put dead letters back in the outbox, due now, attempts reset.
    Retry(Which),
    /// Forget dead letters.
    Drop(Which),
}

#[derive(Debug, Args)]
struct Which {
    /// The delivery id `list` shows.
    id: Option<i64>,
    /// Every dead letter.
    #[arg(long, conflicts_with = "id")]
    all: bool,
}

impl Which {
    fn id(&self) -> anyhow::Result<Option<i64>> {
        match (self.id, self.all) {
            (Some(id), false) => Ok(Some(id)),
            (None, true) => Ok(None),
            _ => anyhow::bail!("name a dead letter's id, or --all"),
        }
    }
}

pub fn dlq(args: &DlqArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = super::state_dir(&args.config) else {
        return Ok(ExitCode::FAILURE);
    };
    let mut store = SqliteStore::open(&dir)?;
    match &args.action {
        DlqAction::List => {
            let dead = store.dead_letters(10_000)?;
            for letter in &dead {
                let d = &letter.delivery;
                println!(
                    "{}\t{}\t{}\t{}\tattempts={}\t{}",
                    d.id,
                    d.channel,
                    flat(&d.alert.rule),
                    flat(&d.alert.key_text()),
                    d.attempts,
                    flat(&letter.error)
                );
            }
            eprintln!("{} dead letter(s)", dead.len());
        }
        DlqAction::Retry(which) => {
            let n = store.retry_dead(which.id()?, Utc::now())?;
            eprintln!("{n} dead letter(s) back in the outbox");
        }
        DlqAction::Drop(which) => {
            let n = store.drop_dead(which.id()?)?;
            eprintln!("{n} dead letter(s) dropped");
        }
    }
    Ok(ExitCode::SUCCESS)
}
