use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::pipeline;

pub fn run(config: &Path) -> anyhow::Result<ExitCode> {
    let Some(loaded) = super::load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    let rt = super::runtime()?;
    rt.block_on(async move {
        let shutdown = super::shutdown_on_signals();
        tracing::info!(rules = loaded.rules.len(), "klaxon running");
        let stats = pipeline::run(loaded, Arc::new(SystemClock), shutdown).await?;
        tracing::info!(
            events = stats.events,
            alerts = stats.alerts,
            "klaxon stopped"
        );
        Ok(ExitCode::SUCCESS)
    })
}
