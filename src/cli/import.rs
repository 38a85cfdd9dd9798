use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::import::elastalert::{self, ImportOptions};

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(subcommand)]
    from: ImportFrom,
}

#[derive(Debug, Subcommand)]
enum ImportFrom {
    /// ElastAlert 2 rule files (or directories of them) into Klaxon rule files; prints the
    /// klaxon.yaml their sources and channels need, and what could not be converted.
    Elastalert(ElastalertArgs),
}

#[derive(Debug, Args)]
struct ElastalertArgs {
    /// Rule files, or directories searched recursively for *.yaml / *.yml.
    #[arg(required = true, value_name = "RULES_DIR|FILE")]
    inputs: Vec<PathBuf>,
    /// Where to write the converted rule files.
    #[arg(long, default_value = "rules")]
    out: PathBuf,
    /// ElastAlert's own config.yaml (es_host, es_port, use_ssl, buffer_time…).
    #[arg(long, value_name = "CONFIG")]
    config: Option<PathBuf>,
    /// Replace rule files that already exist in --out.
    #[arg(long)]
    force: bool,
}

/// Converts, writes the rule files, prints klaxon.yaml on stdout and the report on stderr;
/// exits 1 when a file could not be converted at all.
pub fn import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let ImportFrom::Elastalert(args) = &args.from;
    let options = ImportOptions {
        global_config: args.config.clone(),
        rules_dir: args.out.to_string_lossy().into_owned(),
    };
    let result = elastalert::import(&args.inputs, &options)?;
    let rules: Vec<_> = result.files.iter().flat_map(|f| &f.rules).collect();
    if !args.force {
        let existing: Vec<String> = rules
            .iter()
            .map(|r| args.out.join(&r.file_name))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
        if !existing.is_empty() {
            anyhow::bail!(
                "{} already exist(s): {} (pass --force to replace, or choose another --out)",
                existing.len(),
                existing.join(", ")
            );
        }
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.out.display()))?;
    for rule in &rules {
        let path = args.out.join(&rule.file_name);
        std::fs::write(&path, &rule.text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    print!("{}", result.klaxon_yaml);
    let mut failed = 0;
    for file in &result.files {
        for line in file.lines() {
            eprintln!("{line}");
        }
        failed += usize::from(file.error.is_some());
    }
    eprintln!(
        "converted {} of {} file(s) into {} rule file(s) in {}; {} not converted",
        result.files.len() - failed,
        result.files.len(),
        rules.len(),
        args.out.display(),
        failed
    );
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
