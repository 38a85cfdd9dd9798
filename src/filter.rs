//! The narrow interface between reading and matching: which lines of a buffer could
//! match any rule of a source, and which fields of them the rules read. Sources call it on the bytes they read, so lines no rule
//! can match are never decoded into events (their bytes still advance the checkpoint).

use std::sync::{Arc, RwLock};

use crate::event::FieldSelection;

/// Picks candidate lines out of a buffer of complete lines.
pub trait LineFilter: Send + Sync {
    /// Call `candidate(start, end)` for every line of `buf` (a run of complete lines, each
    /// ending in `\n`; `start..end` excludes the `\n`) that some rule could match, in order.
    /// Must never skip a line that a rule would match.
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize));

    /// True when every line is a candidate (some rule requires no literal), so callers can
    /// skip the scan.
    fn accepts_all(&self) -> bool {
        false
    }

    /// The fields the rules read, when they are known: decoding only those is enough.
    fn fields(&self) -> Option<Arc<FieldSelection>> {
        None
    }

    /// The filter in force now, for a filter that can be replaced: a reader picks lines and
    /// decodes their fields with one snapshot, so both come from the same rule set.
    fn snapshot(&self) -> Option<Arc<dyn LineFilter>> {
        None
    }
}

/// Every line is a candidate: the behaviour without a prefilter.
#[derive(Debug, Default, Clone, Copy)]
pub struct AcceptAll;

impl LineFilter for AcceptAll {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            candidate(start, end);
            start = end + 1;
        }
    }

    fn accepts_all(&self) -> bool {
        true
    }
}

/// A filter that can be replaced while sources use it: hot reload swaps in the prefilter
/// of the new rule set, and the next buffer a source reads is filtered with it.
pub struct SwappableFilter(RwLock<Arc<dyn LineFilter>>);

impl SwappableFilter {
    pub fn new(filter: Arc<dyn LineFilter>) -> Self {
        SwappableFilter(RwLock::new(filter))
    }

    pub fn replace(&self, filter: Arc<dyn LineFilter>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = filter;
    }

    fn current(&self) -> Arc<dyn LineFilter> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl LineFilter for SwappableFilter {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        // One lock and one Arc clone per buffer, not per line.
        self.current().for_each_candidate(buf, candidate);
    }

    fn accepts_all(&self) -> bool {
        self.current().accepts_all()
    }

    fn fields(&self) -> Option<Arc<FieldSelection>> {
        self.current().fields()
    }

    fn snapshot(&self) -> Option<Arc<dyn LineFilter>> {
        Some(self.current())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines containing `x`.
    struct Containing(u8);

    impl LineFilter for Containing {
        fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
            AcceptAll.for_each_candidate(buf, &mut |s, e| {
                if buf[s..e].contains(&self.0) {
                    candidate(s, e)
                }
            });
        }
    }

    #[test]
    fn swappable_filter_uses_the_latest_filter() {
        let f = SwappableFilter::new(std::sync::Arc::new(Containing(b'a')));
        let lines = |f: &SwappableFilter| {
            let mut out = Vec::new();
            f.for_each_candidate(b"a\nb\nab\n", &mut |s, e| out.push((s, e)));
            out
        };
        assert_eq!(lines(&f), vec![(0, 1), (4, 6)]);
        assert!(!f.accepts_all());
        f.replace(std::sync::Arc::new(Containing(b'b')));
        assert_eq!(lines(&f), vec![(2, 3), (4, 6)]);
        f.replace(std::sync::Arc::new(AcceptAll));
        assert!(f.accepts_all());
    }

    #[test]
    fn accept_all_yields_every_line_without_its_newline() {
        let mut lines = Vec::new();
        AcceptAll.for_each_candidate(b"a\n\nbc\n", &mut |s, e| lines.push((s, e)));
        assert_eq!(lines, vec![(0, 1), (2, 2), (3, 5)]);
    }
}
