use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::clock::SystemClock;
use crate::pipeline;

pub fn run(config: &Path, once: bool) -> anyhow::Result<ExitCode> {
    let Some(mut loaded) = super::load_config(config) else {
        return Ok(ExitCode::FAILURE);
    };
    super::listen_override(&mut loaded.global.server)?;
    let rt = crate::pipeline::runtime()?;
    let result = rt.block_on(async move {
        let shutdown = super::shutdown_on_signals();
        tracing::info!(rules = loaded.rules.len(), "klaxon running");
        let follow = if once {
            crate::source::Follow::ToEnd
        } else {
            crate::source::Follow::Tail
        };
        let clock = Arc::new(SystemClock);
        let cluster = match loaded.global.cluster.as_ref().map(|c| c.setup()) {
            Some(Err(e)) => anyhow::bail!("{}: {e}", config.display()),
            Some(Ok(setup)) => Some(setup),
            None => None,
        };
        let stats = match cluster {
            None => pipeline::run(loaded, clock, shutdown, follow).await?,
            Some(setup) => match setup.role {
                crate::cluster::Role::Edge => {
                    pipeline::run_edge(loaded, clock, shutdown, follow, setup).await?
                }
                crate::cluster::Role::Worker => {
                    pipeline::run_worker(loaded, clock, shutdown, setup).await?
                }
            },
        };
        tracing::info!(
            events = stats.events,
            alerts = stats.alerts,
            "klaxon stopped"
        );
        Ok(ExitCode::SUCCESS)
    });
    // Everything is committed by now; a blocking read of stdin that will never return
    // must not keep the process alive.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
