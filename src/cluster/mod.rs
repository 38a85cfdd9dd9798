//! Past one machine (issue 17, in progress): edges that tail and match where the logs are
//! and publish each match to NATS JetStream, workers that own partitions of (rule, key) and
//! run the rule engine on them. This module holds the parts both roles share and that are
//! built so far: how a match is partitioned ([`partition`]) and what crosses the network
//! ([`wire`]). Nothing here runs unless a `cluster:` section asks for it, and none exists
//! yet: single-node Klaxon is unchanged. See docs/SCALING.md for the design and its status.

pub mod partition;
pub mod publish;
pub mod wire;
