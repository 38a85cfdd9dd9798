//! The per-key state of the clock-fired counting rules (`flatline`, `spike`): event times
//! in a window and the last line seen.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{insert_sorted, micros, set_text};
use crate::event::Event;

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Track {
    /// Watched since (µs): no alert before `since + window`.
    pub since: i64,
    /// Event times (µs), ascending, back to one window behind the watermark.
    pub times: VecDeque<i64>,
    /// The last line seen for the key: the alert's evidence of what stopped or spiked.
    pub last_line: String,
    /// Instants before this were evaluated. Stored with the rest of the key's state (so it
    /// may lag behind when only it moved: evaluating those instants again finds what it
    /// found then — nothing); after a restart, evaluating instants older than that would
    /// count windows whose events were already dropped.
    #[serde(default = "unknown")]
    pub checked: i64,

    /// It fired and its condition has not cleared since.
    #[serde(default, skip_serializing_if = "is_false")]
    pub firing: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn never() -> i64 {
    i64::MIN
}

/// `checked` of a state stored before it was (see [`Track::settle_unknown_checked`]).
fn unknown() -> i64 {
    i64::MIN + 1
}

impl Track {
    /// A key first watched at `since` (µs).
    pub fn new(since: i64) -> Self {
        Track {
            since,
            times: VecDeque::new(),
            last_line: String::new(),
            checked: never(),
            firing: false,
        }
    }

    /// Whether the state was stored before `checked` was.
    pub fn checked_unknown(&self) -> bool {
        self.checked == unknown()
    }

    /// A state stored before `checked` was gets the latest instant known to be safe to
    /// evaluate from: windows ending at or after the oldest event kept plus `window` hold
    /// every event they should (older ones were dropped only once out of every window still
    /// to evaluate). A key with no event left was decided up to its next deadline.
    pub fn settle_unknown_checked(&mut self, window: i64) {
        if self.checked == unknown() {
            self.checked = self
                .times
                .front()
                .map_or(never(), |&f| f.saturating_add(window));
        }
    }

    /// Counts `event` (times stay sorted even when it arrives out of order).
    pub fn record(&mut self, event: &Event) {
        insert_sorted(&mut self.times, micros(event.time));
        set_text(&mut self.last_line, &event.raw);
    }
}
