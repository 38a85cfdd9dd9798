//! Bytes to skip to with `memchr`: when every literal holds one of at most three bytes that
//! are rare in the text (both cases of a letter count), lines without any are passed over at
//! memory speed.

use super::required::log_rank;

#[derive(Debug, Clone)]
pub(super) struct Anchors {
    bytes: Vec<u8>,
}

impl Anchors {
    /// Each literal's rarest byte by the fixed ranking; `None` when more than three bytes
    /// would be needed.
    pub(super) fn choose(literals: &[String]) -> Option<Anchors> {
        Self::rarest(literals, |b| {
            let cost = u64::from(log_rank(b));
            if b.is_ascii_alphabetic() {
                cost + u64::from(log_rank(b.to_ascii_uppercase())) + 64
            } else {
                cost
            }
        })
    }

    /// Each literal's rarest byte in a sample whose bytes occur `counts` times (both cases
    /// of a letter counted together); `None` when more than three bytes would be needed.
    pub(super) fn learned(literals: &[String], counts: &[u64; 256]) -> Option<Anchors> {
        Self::rarest(literals, |b| {
            counts[usize::from(b.to_ascii_lowercase())]
                + counts[usize::from(b.to_ascii_uppercase())]
        })
    }

    /// Each literal's byte of lowest `cost`, in both cases.
    fn rarest(literals: &[String], cost: impl Fn(u8) -> u64) -> Option<Anchors> {
        let mut bytes: Vec<u8> = Vec::new();
        for lit in literals {
            let best = lit.bytes().min_by_key(|&b| cost(b))?;
            for b in [best.to_ascii_lowercase(), best.to_ascii_uppercase()] {
                if !bytes.contains(&b) {
                    bytes.push(b);
                }
            }
        }
        (bytes.len() <= 3).then_some(Anchors { bytes })
    }

    pub(super) fn find(&self, hay: &[u8]) -> Option<usize> {
        match *self.bytes.as_slice() {
            [a] => memchr::memchr(a, hay),
            [a, b] => memchr::memchr2(a, b, hay),
            [a, b, c] => memchr::memchr3(a, b, c, hay),
            _ => Some(0),
        }
    }

    /// The share of the lines of `sample` holding an anchor byte.
    pub(super) fn line_share(&self, sample: &[u8]) -> f64 {
        let (mut lines, mut anchored) = (0usize, 0usize);
        for line in sample.split(|&b| b == b'\n') {
            lines += 1;
            if self.find(line).is_some() {
                anchored += 1;
            }
        }
        anchored as f64 / lines.max(1) as f64
    }
}
