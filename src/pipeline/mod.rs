//! Wiring only: the stages joined into `klaxon run` ([`run`]) and into the offline replay
//! of `klaxon test` ([`replay()`]), both driving the same [`Engine`] and commit path.
//! Delivery is at-least-once; handling of lines is exactly-once.

mod compile;
pub mod deliver;
mod edge;
mod engine;
#[cfg(test)]
mod engine_state_tests;
mod observe;
mod reload;
mod replay;
mod run;
mod serve;
mod worker;

pub use compile::{compile_loaded, compile_rules, query_options, RuleContext};
pub use edge::run_edge;
pub use engine::{Engine, RuleReport};
pub use reload::{ReloadOutcome, RuleWatcher};
pub use replay::{
    replay, replay_with, ReplayHooks, ReplayInput, ReplayOptions, ReplayProgress, ReplayReport,
};
pub use run::run;
pub use serve::{ACK_KEY_FILE, ADDR_FILE};
pub use worker::run_worker;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{0}")]
    Config(crate::config::Diagnostics),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Source(#[from] crate::source::SourceError),
    #[error("channel `{name}`: {message}")]
    Channel { name: String, message: String },
    #[error("replay: {0}")]
    Replay(String),
    #[error("cluster: {0}")]
    Cluster(String),
}

/// What a run did, for the summary printed at the end.
#[derive(Debug, Default, Clone)]
pub struct RunStats {
    pub events: u64,
    pub alerts: u64,
}

/// A multi-threaded runtime for the async subcommands.
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
}

/// A poisoned lock only means another task panicked mid-call; the SQLite state itself is
/// transactional, so carry on with it.
pub fn lock<T: ?Sized>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
