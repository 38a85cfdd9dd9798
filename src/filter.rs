//! The narrow interface between reading and matching: which lines of a buffer could
//! match any rule of a source. Sources call it on the bytes they read, so lines no rule
//! can match are never decoded into events (their bytes still advance the checkpoint).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_all_yields_every_line_without_its_newline() {
        let mut lines = Vec::new();
        AcceptAll.for_each_candidate(b"a\n\nbc\n", &mut |s, e| lines.push((s, e)));
        assert_eq!(lines, vec![(0, 1), (2, 2), (3, 5)]);
    }
}
