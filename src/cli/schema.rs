//! `klaxon schema [config|rule]`: the JSON Schema of klaxon.yaml or of a rule file, made
//! from the config types (what `schemas/*.schema.json` hold); `--markdown`: docs/CONFIG.md.

use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::config::schema;

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which file's schema: `config` (klaxon.yaml) or `rule` (a rule file).
    #[arg(value_enum, default_value = "config")]
    kind: SchemaKind,
    /// Instead, the reference of every key of both, Markdown (docs/CONFIG.md).
    #[arg(long)]
    markdown: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SchemaKind {
    Config,
    Rule,
}

pub fn schema(args: &SchemaArgs) -> anyhow::Result<ExitCode> {
    let text = if args.markdown {
        schema::config_markdown()
    } else {
        match args.kind {
            SchemaKind::Config => schema::to_text(&schema::config_schema()),
            SchemaKind::Rule => schema::to_text(&schema::rule_schema()),
        }
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(anyhow::anyhow!("cannot write to standard output: {e}"))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
