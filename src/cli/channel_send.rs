//! One channel of klaxon.yaml, built by its real code, with a runtime of its own to send
//! on: for the commands that send outside `klaxon run` (`notify-test`, `replay --send`).

use std::sync::Arc;
use std::time::Duration;

use crate::alert::Alert;
use crate::config::GlobalConfig;
use crate::notify::{Channel, ChannelConfig, DeliveryError, MessageSetup, Receipt};

pub struct ChannelSender {
    runtime: tokio::runtime::Runtime,
    /// `None` only while dropping.
    channel: Option<Box<dyn Channel>>,
    /// Each send is bounded as a delivery worker bounds it.
    pub timeout: Duration,
}

/// A send that got no answer within the channel's `send_timeout`.
pub struct NoAnswer;

impl ChannelSender {
    /// The channel `config` named `name`, built with klaxon.yaml's display zone.
    pub fn new(global: &GlobalConfig, name: &str, config: &ChannelConfig) -> anyhow::Result<Self> {
        let setup = MessageSetup {
            display_zone: global.display_timezone,
            rules: Arc::default(),
        };
        let clock = Arc::new(crate::clock::SystemClock);
        let channel = crate::notify::build_with(name, config, clock, &setup)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?;
        Ok(ChannelSender {
            runtime,
            channel: Some(channel),
            timeout: config.delivery().send_timeout,
        })
    }

    pub fn send(&self, alert: &Alert) -> Result<Result<Receipt, DeliveryError>, NoAnswer> {
        let channel = self.channel.as_ref().expect("present until dropped");
        // The timer is made inside the runtime: a tokio timer needs one to exist.
        self.runtime
            .block_on(async { tokio::time::timeout(self.timeout, channel.send(alert)).await })
            .map_err(|_| NoAnswer)
    }
}

impl Drop for ChannelSender {
    fn drop(&mut self) {
        // Dropped on the runtime: the email channel's connection pool closes by spawning
        // a task.
        if let Some(channel) = self.channel.take() {
            self.runtime.block_on(async move { drop(channel) });
        }
    }
}
