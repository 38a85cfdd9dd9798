//! Starting the HTTP server beside the pipeline: the acknowledge-link key (configured, or
//! made once and kept in the state directory so links survive restarts), the listener, and
//! the address it took, written to `state_dir/server.addr` for `klaxon status`.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::PipelineError;
use crate::alert::AckLinks;
use crate::clock::Clock;
use crate::server::{ServerConfig, ServerSetup};
use crate::store::SqliteStore;
use crate::telemetry::Telemetry;

/// The key file in the state directory.
pub const ACK_KEY_FILE: &str = "ack-link.key";
/// Where the running server's address is written.
pub const ADDR_FILE: &str = "server.addr";

/// The key acknowledge links are signed with.
fn ack_key(config: &ServerConfig, state_dir: &Path) -> Result<Vec<u8>, PipelineError> {
    if let Some(secret) = &config.ack_secret {
        return Ok(secret.expose().as_bytes().to_vec());
    }
    let path = state_dir.join(ACK_KEY_FILE);
    let io = |source: std::io::Error| {
        PipelineError::Store(crate::store::StoreError::Io {
            path: path.display().to_string(),
            source,
        })
    };
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {
            tracing::warn!(path = %path.display(), "acknowledge-link key too short: making a new one")
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(io)?;
    file.write_all(&key)
        .and_then(|_| file.sync_all())
        .map_err(io)?;
    Ok(key)
}

/// Binds `server.listen` and serves until `shutdown` (returning the acknowledge links the
/// messages carry), on a thread and runtime of its own:
/// handlers read SQLite synchronously, and however many requests come, none of them can
/// take a worker thread from the sources, the run loop or delivery. A listen address that
/// cannot be bound stops Klaxon at start: a console or metrics endpoint that silently is not
/// there is what this server exists to prevent.
pub fn start(
    config: &ServerConfig,
    state_dir: &Path,
    telemetry: Arc<Telemetry>,
    wake: Arc<tokio::sync::Notify>,
    clock: Arc<dyn Clock>,
    shutdown: tokio::sync::watch::Receiver<bool>,
) -> Result<(std::thread::JoinHandle<()>, Arc<AckLinks>), PipelineError> {
    let failed = |message: String| PipelineError::Channel {
        name: "server".into(),
        message,
    };
    let listener = std::net::TcpListener::bind(&config.listen).map_err(|e| {
        failed(format!(
            "cannot listen on {} (server.listen): {e}",
            config.listen
        ))
    })?;
    let addr = listener.local_addr().map_err(|e| failed(e.to_string()))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| failed(e.to_string()))?;
    if let Err(e) = std::fs::write(state_dir.join(ADDR_FILE), format!("{addr}\n")) {
        tracing::warn!("cannot write {ADDR_FILE}: {e}");
    }
    // One key signs acknowledge links (for the messages, too) and console sessions.
    let key = ack_key(config, state_dir)?;
    let ack_links = Arc::new(AckLinks::new(
        key.clone(),
        config.ack_link_ttl.as_chrono(),
        config.public_url.clone(),
    ));
    let router = crate::server::router(ServerSetup {
        config: config.clone(),
        telemetry,
        store: SqliteStore::open(state_dir)?,
        session_key: key,
        ack_links: ack_links.clone(),
        wake,
        clock,
        listen: addr,
    });
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    tracing::info!(%addr, "HTTP API, metrics and console listening");
    let thread = std::thread::Builder::new()
        .name("klaxon-http".into())
        .spawn(move || {
            runtime.block_on(async move {
                match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => crate::server::serve(listener, router, shutdown).await,
                    Err(e) => tracing::error!("HTTP server: {e}"),
                }
            });
            // Connections still open (a client that never finishes its request) are
            // dropped rather than waited for.
            runtime.shutdown_timeout(std::time::Duration::from_millis(100));
        })
        .map_err(|e| failed(e.to_string()))?;
    Ok((thread, ack_links))
}
