//! Silences: matchers over an alert's labels, with a start and an end, an author and a
//! comment. A silenced alert is recorded, not sent; when the silence ends while it still
//! fires, it is let through once.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::matcher::{Labels, Matchers};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Silence {
    pub id: u64,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub author: String,
    pub comment: String,
}

impl Silence {
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }

    /// Whether it mutes an alert with `labels` at `now`. A silence without matchers would
    /// mute everything: it is refused when added, and never matches here.
    pub fn mutes(&self, labels: &Labels, now: DateTime<Utc>) -> bool {
        self.active(now) && !self.matchers.is_empty() && self.matchers.matches(labels)
    }
}
