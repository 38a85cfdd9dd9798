use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::compile_rules;

/// Print every problem in the configuration and its rules; exit 1 if any is an error.
pub fn check(config: &Path) -> anyhow::Result<ExitCode> {
    let Some(loaded) = super::load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    match compile_rules(&loaded) {
        Ok((_, warnings)) => super::print_diagnostics(&warnings),
        Err(diagnostics) => {
            super::print_diagnostics(&diagnostics);
            return Ok(ExitCode::FAILURE);
        }
    }
    println!(
        "{}: ok ({} rules, {} sources, {} channels)",
        config.display(),
        loaded.rules.len(),
        loaded.global.sources.len(),
        loaded.global.channels.len()
    );
    Ok(ExitCode::SUCCESS)
}
