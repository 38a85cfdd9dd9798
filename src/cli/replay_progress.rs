//! `klaxon replay`'s progress on stderr: an indicatif bar (bytes, lines/s, ETA) on a
//! terminal; with `--progress always` and no terminal, a plain line every two seconds, so
//! a CI log or a `tee` shows progress without escape codes.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pipeline::ReplayProgress;

const PLAIN_EVERY: Duration = Duration::from_secs(2);

pub struct Progress {
    total: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    plain: Option<Instant>,
}

impl Progress {
    /// A bar when stderr is a terminal and `enabled`; plain lines instead when `always` and
    /// it is not one.
    pub fn new(total: u64, always: bool, enabled: bool) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ETA {eta}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Progress {
            total,
            started: Instant::now(),
            bar,
            plain: (always && !terminal).then(Instant::now),
        }
    }

    pub fn update(&mut self, p: ReplayProgress) {
        let rate = p.lines as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
        if let Some(bar) = &self.bar {
            bar.set_position(p.bytes.min(self.total));
            bar.set_message(format!(
                "{} lines, {} lines/s",
                crate::types::grouped(p.lines),
                crate::types::grouped(rate as u64)
            ));
        }
        if let Some(last) = &mut self.plain {
            if last.elapsed() >= PLAIN_EVERY {
                *last = Instant::now();
                eprintln!("{}", self.line(p, rate));
            }
        }
    }

    /// `replay: 43% 512.0 MiB of 1.2 GiB, 2,100,000 lines, 410,000 lines/s, ETA 14 s`.
    fn line(&self, p: ReplayProgress, rate: f64) -> String {
        let done = p.bytes.min(self.total);
        let pct = (done * 100).checked_div(self.total).unwrap_or(100);
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = if done > 0 {
            let left = (self.total - done) as f64 * elapsed / done as f64;
            format!("{left:.0} s")
        } else {
            "?".into()
        };
        format!(
            "replay: {pct}% {} of {} bytes, {} lines, {} lines/s, ETA {eta}",
            crate::types::grouped(done),
            crate::types::grouped(self.total),
            crate::types::grouped(p.lines),
            crate::types::grouped(rate as u64)
        )
    }

    pub fn finish(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        if self.plain.is_some() {
            eprintln!(
                "replay: 100% of {} bytes read in {:.1} s",
                crate::types::grouped(self.total),
                self.started.elapsed().as_secs_f64()
            );
        }
    }
}
