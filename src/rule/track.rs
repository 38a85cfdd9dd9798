//! The per-key state of the clock-fired counting rules (`flatline`, `spike`): event times
//! in a window, and lines to show: the last one seen (`flatline`: what stopped), or lines
//! kept per stretch of time (`spike`: a line from the window that spiked).

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
    /// `flatline`: the last line seen for the key, the alert's evidence of what stopped.
    pub last_line: String,
    /// `spike`: the first and last line of each `window`-long stretch of time, ascending (see
    /// [`Track::record_kept`]).
    #[serde(default, skip_serializing_if = "VecDeque::is_empty")]
    pub stretches: VecDeque<Stretch>,
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
            stretches: VecDeque::new(),
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

    /// Counts `event` and keeps its line if it is the first or the last of its stretch:
    /// time cut in pieces `width` long (`width` at most a window). Any window `(t - width,
    /// t]` holding an event then holds a kept line: the event's stretch starts inside the
    /// window, so its first line is in it, or starts before and so ends inside, so its last
    /// line is. Two lines per stretch instead of every line of the window.
    pub fn record_kept(&mut self, event: &Event, width: i64) {
        let t = micros(event.time);
        insert_sorted(&mut self.times, t);
        let start = t - t.rem_euclid(width.max(1));
        let at = self.stretches.partition_point(|s| s.start < start);
        match self.stretches.get_mut(at) {
            Some(s) if s.start == start => {
                if t < s.first.0 {
                    let first = std::mem::replace(&mut s.first, (t, super::kept(&event.raw)));
                    s.last.get_or_insert(first);
                } else if let Some(last) = s.last.as_mut().filter(|l| t >= l.0) {
                    // The common case (events in order): the buffer is reused.
                    last.0 = t;
                    set_text(&mut last.1, &event.raw);
                } else if s.last.is_none() {
                    s.last = Some((t, super::kept(&event.raw)));
                }
            }
            _ => self.stretches.insert(
                at,
                Stretch {
                    start,
                    first: (t, super::kept(&event.raw)),
                    last: None,
                },
            ),
        }
    }

    /// The kept lines, in time order.
    fn kept_lines(&self) -> impl DoubleEndedIterator<Item = &(i64, String)> {
        self.stretches
            .iter()
            .flat_map(|s| std::iter::once(&s.first).chain(s.last.as_ref()))
    }

    /// The earliest kept line of `(from, to]`.
    pub fn first_line_in(&self, from: i64, to: i64) -> Option<&str> {
        self.kept_lines()
            .find(|(t, _)| *t > from && *t <= to)
            .map(|(_, l)| l.as_str())
    }

    /// The latest kept line of `(from, to]`.
    pub fn last_line_in(&self, from: i64, to: i64) -> Option<&str> {
        self.kept_lines()
            .rev()
            .find(|(t, _)| *t > from && *t <= to)
            .map(|(_, l)| l.as_str())
    }

    /// Drops the stretches that end by `t` (every line of them is before it).
    pub fn forget_lines_before(&mut self, t: i64, width: i64) {
        while self
            .stretches
            .front()
            .is_some_and(|s| s.start.saturating_add(width) <= t)
        {
            self.stretches.pop_front();
        }
    }
}

/// The lines kept of one stretch of time: its first and (when another came) its last.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Stretch {
    /// µs, a multiple of the stretch's width.
    start: i64,
    first: (i64, String),
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<(i64, String)>,
}
