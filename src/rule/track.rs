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
    /// Instants before this were evaluated (not stored: re-evaluating finds nothing new).
    #[serde(skip, default = "never")]
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

    /// Counts `event` (times stay sorted even when it arrives out of order).
    pub fn record(&mut self, event: &Event) {
        insert_sorted(&mut self.times, micros(event.time));
        set_text(&mut self.last_line, &event.raw);
    }
}
