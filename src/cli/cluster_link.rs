//! What the commands that act on alerts (`klaxon ack`, `resolve`, `silence`) share when
//! klaxon.yaml has a `cluster:` section: where the config says the state is, and one call
//! to the cluster, bounded in time.

use std::path::Path;
use std::time::Duration;

use crate::cluster::streams::{ClusterError, Connected};
use crate::cluster::ClusterSetup;
use crate::config::GlobalConfig;

/// Where the alerts of a klaxon.yaml live.
pub enum StateAt {
    /// The state directory's SQLite store (a single node).
    Local(Box<GlobalConfig>),
    /// The partitions' owners, reached through NATS.
    Cluster(Box<ClusterSetup>),
}

/// Loads `config` (printing its problems; `None` when it has errors).
pub fn state_at(config: &Path) -> anyhow::Result<Option<StateAt>> {
    let global = match crate::config::load_global(config) {
        Ok(loaded) => loaded.global,
        Err(d) => {
            super::print_diagnostics(&d);
            return Ok(None);
        }
    };
    Ok(Some(match &global.cluster {
        Some(cluster) => StateAt::Cluster(Box::new(
            cluster
                .setup()
                .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?,
        )),
        None => StateAt::Local(Box::new(global)),
    }))
}

/// Connects and runs `call`, all within 30 s.
pub fn call<T, F, Fut>(setup: &ClusterSetup, call: F) -> anyhow::Result<T>
where
    F: FnOnce(Connected) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClusterError>>,
{
    let rt = crate::pipeline::runtime()?;
    rt.block_on(async {
        let done = async {
            let conn = crate::cluster::streams::connect(setup).await?;
            call(conn).await
        };
        match tokio::time::timeout(Duration::from_secs(30), done).await {
            Ok(result) => result.map_err(anyhow::Error::from),
            Err(_) => Err(anyhow::anyhow!(
                "no NATS server of {} answered within 30s",
                crate::cluster::streams::shown(&setup.servers)
            )),
        }
    })
}
