use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::compile_rules;

/// Print every problem in the configuration and its rules; exit 1 if any is an error.
pub fn check(config: &Path) -> anyhow::Result<ExitCode> {
    let loaded = match crate::config::load(config) {
        Ok(loaded) => loaded,
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            return Ok(ExitCode::FAILURE);
        }
    };
    if !loaded.warnings.is_empty() {
        eprint!("{}", loaded.warnings);
    }
    if let Err(diagnostics) = compile_rules(&loaded) {
        eprint!("{diagnostics}");
        return Ok(ExitCode::FAILURE);
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
