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

/// A new silence as the store keeps it, checked: at least one matcher, each well formed
/// (kept in canonical form), ending after it starts and after `now`, a comment saying why.
/// The CLI and the HTTP API add silences through this.
pub fn new_silence_row(
    matchers: &[String],
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    author: &str,
    comment: &str,
    now: DateTime<Utc>,
) -> Result<crate::store::SilenceRow, String> {
    if matchers.is_empty() {
        return Err("a silence needs at least one matcher (`rule = ghost-orders`)".into());
    }
    let parsed = matchers
        .iter()
        .map(|m| super::Matcher::parse(m))
        .collect::<Result<Vec<_>, _>>()?;
    if ends_at <= starts_at || ends_at <= now {
        return Err("the silence would end before it starts, or has ended already".into());
    }
    if comment.trim().is_empty() {
        return Err("say why: a silence needs a comment".into());
    }
    let texts: Vec<String> = parsed.iter().map(super::Matcher::to_string).collect();
    Ok(crate::store::SilenceRow {
        id: 0,
        matchers: serde_json::to_string(&texts).map_err(|e| e.to_string())?,
        starts_at,
        ends_at,
        author: author.to_string(),
        comment: comment.to_string(),
    })
}
