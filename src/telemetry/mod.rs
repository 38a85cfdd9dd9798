//! What Klaxon tells about itself: Prometheus metrics, health (what `/readyz` and `klaxon
//! status` report) and warnings about silent failures. Stages write here; the HTTP server
//! reads. Imports only `types`, so every stage may hold a handle.

mod health;
mod metrics;
mod warnings;

pub use health::{ChannelStatus, Health, SourceStatus, Status, StoreStatus};
pub use metrics::{ChannelMetrics, Metrics, RuleMetrics, SourceMetrics};
pub use warnings::{
    RatioWatch, SilenceWatch, Verdict, Warning, WarningKind, Warnings, WarningsConfig,
};

/// Metrics, health and warnings of one running Klaxon, shared by every stage.
#[derive(Debug, Default)]
pub struct Telemetry {
    pub metrics: Metrics,
    pub health: Health,
    pub warnings: Warnings,
}
