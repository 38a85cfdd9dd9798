//! Past one machine (docs/SCALING.md): edges tail and match where the logs are and publish
//! each match to NATS JetStream; workers own partitions of (rule, key) through leases, run
//! the rule engine on them, snapshot its state and put alerts in a shared outbox stream that
//! one worker per channel delivers. This module holds the mechanics both roles use; the
//! roles themselves are `pipeline::edge` and `pipeline::worker`. Nothing here runs unless
//! klaxon.yaml has a `cluster:` section.

pub mod command;
pub mod config;
pub mod lease;
pub mod outbox;
pub mod partition;
pub mod publish;
pub mod snapshot;
pub mod streams;
pub mod wire;

pub use config::{ClusterConfig, ClusterSetup, Role};
