use std::path::Path;
use std::process::ExitCode;

use crate::pipeline::compile_rules;

/// Print every problem in the configuration and its rules — those found loading and those
/// found building every rule that loaded — in file order; exit 1 if any is an error.
pub fn check(config: &Path) -> anyhow::Result<ExitCode> {
    let (loaded, mut problems) = crate::config::load_for_check(config);
    let Some(loaded) = loaded else {
        super::print_diagnostics(&problems);
        return Ok(ExitCode::FAILURE);
    };
    match compile_rules(&loaded) {
        Ok((_, warnings)) => problems.extend(warnings),
        Err(found) => problems.extend(found),
    }
    // klaxon.yaml first, then each rule file, each in line order.
    let mut all = problems.into_vec();
    all.sort_by(|a, b| {
        let key = |d: &crate::config::Diagnostic| (d.file != loaded.path, d.file.clone());
        key(a)
            .cmp(&key(b))
            .then((a.line, a.column).cmp(&(b.line, b.column)))
    });
    all.dedup();
    let problems = crate::config::Diagnostics::from(all);
    super::print_diagnostics(&problems);
    if problems.has_errors() {
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
