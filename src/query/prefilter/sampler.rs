//! A sampled q-gram scan: the first pass over lines whose rules' literals are long enough.
//!
//! Every literal of length `n` holds `n - q + 1` q-grams (runs of `q` bytes). Looking at
//! every `stride`-th position of a line, with `stride <= n - q + 1`, lands on one of any
//! `stride` consecutive q-gram positions of each occurrence; so it is enough to put, for each
//! literal, `stride` consecutive q-grams of it into a set, and test only the sampled positions
//! against the set. A test is a 4-byte load, a case fold and a bit lookup, every `stride`
//! bytes: several times faster than an automaton stepping every byte. Each literal's
//! q-grams are the rarest window of it, rarest in the text seen (learned from a sample) or,
//! before any text is seen, by a fixed ranking of bytes in logs.
//!
//! A position in the set is only a hint: the caller verifies the line around it.

use super::required::log_rank;

/// log2 of the bits in the set: 64 KiB, so hash collisions stay rare for hundreds of
/// literals.
const BITS: u32 = 19;

/// The longest stride: longer literals get a choice of windows instead.
const MAX_STRIDE: usize = 16;

const WORDS: usize = 1 << (BITS - 6);

#[derive(Debug, Clone)]
pub(super) struct Sampler {
    q: usize,
    stride: usize,
    /// Keeps the first `q` bytes of a little-endian load.
    mask: u32,
    bits: Box<[u64; WORDS]>,
}

impl Sampler {
    /// The sampler for `literals` (lowercase) with the longest stride they allow, choosing
    /// each literal's window by `cost` (lower is rarer) of its q-grams; `None` when a literal
    /// is shorter than 3 bytes.
    pub(super) fn build(literals: &[String], cost: &dyn Fn(u32) -> u32) -> Option<Sampler> {
        let longest = Self::max_stride(literals)?;
        Some(Self::with_stride(literals, longest, cost).0)
    }

    /// The longest stride `literals` allow (see the module docs).
    pub(super) fn max_stride(literals: &[String]) -> Option<usize> {
        let min_len = literals.iter().map(String::len).min()?;
        let q = Self::q_for(literals)?;
        Some((min_len - q + 1).min(MAX_STRIDE))
    }

    /// The sampler with `stride` (at most [`Sampler::max_stride`]), and the summed cost of the
    /// distinct q-grams it holds.
    pub(super) fn with_stride(
        literals: &[String],
        stride: usize,
        cost: &dyn Fn(u32) -> u32,
    ) -> (Sampler, u64) {
        let q = Self::q_for(literals).unwrap_or(3);
        let mask = if q == 4 { u32::MAX } else { 0x00FF_FFFF };
        let mut sampler = Sampler {
            q,
            stride: stride.max(1),
            mask,
            bits: Box::new([0u64; WORDS]),
        };
        let stride = sampler.stride;
        let window = stride + q - 1;
        let mut chosen: Vec<u32> = Vec::new();
        for lit in literals {
            let bytes = lit.as_bytes();
            if bytes.len() < window {
                continue; // not built for (callers pass literals of at least `min_len`)
            }
            let grams: Vec<u32> = (0..=bytes.len() - q)
                .map(|t| sampler.gram(&bytes[t..]))
                .collect();
            let best = (0..=bytes.len() - window)
                .min_by_key(|&j| grams[j..j + stride].iter().map(|&g| cost(g)).sum::<u32>())
                .unwrap_or(0);
            for &g in &grams[best..best + stride] {
                let s = slot(g);
                sampler.bits[s >> 6] |= 1 << (s & 63);
                chosen.push(g);
            }
        }
        chosen.sort_unstable();
        chosen.dedup();
        let total = chosen.iter().map(|&g| u64::from(cost(g))).sum();
        (sampler, total)
    }

    /// The q-gram length the sampler was built for (the learning pass counts these).
    pub(super) fn q_for(literals: &[String]) -> Option<usize> {
        let min_len = literals.iter().map(String::len).min()?;
        (min_len >= 3).then_some(min_len.min(4))
    }

    /// The folded q-gram starting at `bytes[0]` (at least `q` bytes).
    fn gram(&self, bytes: &[u8]) -> u32 {
        gram(bytes, self.q) & self.mask
    }

    /// Whether the q-gram at `buf[pos..pos + 4]` is in the set.
    #[inline(always)]
    fn probe(&self, buf: &[u8], pos: usize) -> bool {
        let x = u32::from_le_bytes(buf[pos..pos + 4].try_into().unwrap_or([0; 4]));
        let s = slot((x | 0x2020_2020) & self.mask);
        self.bits[s >> 6] & (1 << (s & 63)) != 0
    }

    /// The first sampled position in `buf[from..to]`, on the grid `from + k * stride`, whose
    /// q-gram (lying wholly before `to`) is in the set.
    pub(super) fn find(&self, buf: &[u8], from: usize, to: usize) -> Option<usize> {
        let to = to.min(buf.len());
        let last = to.checked_sub(self.q)?;
        // Positions before `loads` can read 4 bytes whatever `q` is.
        let loads = buf.len().saturating_sub(3);
        let mut pos = from;
        // Four tests per round while all four loads fit: independent loads overlap.
        let step = self.stride;
        while pos + 3 * step <= last && pos + 3 * step < loads {
            let (a, b, c, d) = (
                self.probe(buf, pos),
                self.probe(buf, pos + step),
                self.probe(buf, pos + 2 * step),
                self.probe(buf, pos + 3 * step),
            );
            if a | b | c | d {
                let k = [a, b, c, d].iter().position(|&h| h).unwrap_or(0);
                return Some(pos + k * step);
            }
            pos += 4 * step;
        }
        while pos <= last {
            let x = if pos < loads {
                u32::from_le_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]])
            } else {
                gram(&buf[pos..], self.q)
            };
            let s = slot((x | 0x2020_2020) & self.mask);
            if self.bits[s >> 6] & (1 << (s & 63)) != 0 {
                return Some(pos);
            }
            pos += step;
        }
        None
    }
}

/// The first `q` (3 or 4) bytes of `bytes` as a little-endian word, folded (`| 0x20`: ASCII
/// letters lose their case; other bytes may merge, which only adds hints).
fn gram(bytes: &[u8], q: usize) -> u32 {
    let mut word = [0u8; 4];
    word[..q].copy_from_slice(&bytes[..q]);
    u32::from_le_bytes(word) | 0x2020_2020
}

#[inline(always)]
fn slot(gram: u32) -> usize {
    (gram.wrapping_mul(0x9E37_79B1) >> (32 - BITS)) as usize
}

/// The fixed estimate of how common a q-gram is, before any text is seen.
pub(super) fn ranked_cost(gram: u32) -> u32 {
    gram.to_le_bytes()
        .iter()
        .filter(|&&b| b != 0)
        .map(|&b| u32::from(log_rank(b)))
        .sum()
}

/// log2 of the counters: enough that the many distinct q-grams of ids and hashes in a
/// sample seldom share a counter with a literal's.
const COUNT_BITS: u32 = 20;

fn count_slot(gram: u32) -> usize {
    (gram.wrapping_mul(0x9E37_79B1) >> (32 - COUNT_BITS)) as usize
}

/// How often each q-gram occurs in a sample of text, to choose rare windows.
pub(super) struct GramCounts {
    counts: Vec<u16>,
    positions: u64,
}

impl GramCounts {
    /// Counts the q-grams of `sample` at every position.
    pub(super) fn of(sample: &[u8], q: usize) -> GramCounts {
        let positions = (sample.len() + 1).saturating_sub(q) as u64;
        let mask = if q == 4 { u32::MAX } else { 0x00FF_FFFF };
        let mut counts = vec![0u16; 1 << COUNT_BITS];
        if sample.len() >= q {
            for pos in 0..=sample.len() - q {
                let g = gram(&sample[pos..], q) & mask;
                let c = &mut counts[count_slot(g)];
                *c = c.saturating_add(1);
            }
        }
        GramCounts { counts, positions }
    }

    /// Positions counted.
    pub(super) fn positions(&self) -> u64 {
        self.positions
    }

    pub(super) fn cost(&self, gram: u32) -> u32 {
        u32::from(self.counts[count_slot(gram)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_lines(buf: &[u8], lits: &[&str]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, line) in buf.split(|&b| b == b'\n').enumerate() {
            let lower = line.to_ascii_lowercase();
            if lits
                .iter()
                .any(|l| lower.windows(l.len()).any(|w| w == l.as_bytes()))
            {
                out.push(i);
            }
            start += line.len() + 1;
        }
        let _ = start;
        out
    }

    /// Lines holding a sampled hit (every line with a literal must be among them).
    fn hinted_lines(s: &Sampler, buf: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        let mut line_no = 0;
        let mut line_start = 0;
        for (i, &b) in buf.iter().enumerate() {
            if b == b'\n' {
                if s.find(buf, line_start, i).is_some() {
                    out.push(line_no);
                }
                line_no += 1;
                line_start = i + 1;
            }
        }
        out
    }

    #[test]
    fn never_misses_a_line_holding_a_literal_at_any_offset_or_case() {
        let lits: Vec<String> = ["order_timeout", "kafka lag", "oom", "xyzzy"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let refs: Vec<&str> = lits.iter().map(String::as_str).collect();
        let sampler = Sampler::build(&lits, &ranked_cost).unwrap();
        assert_eq!((sampler.q, sampler.stride), (3, 1));
        let long: Vec<String> = lits[..2].to_vec();
        let long_sampler = Sampler::build(&long, &ranked_cost).unwrap();
        assert_eq!((long_sampler.q, long_sampler.stride), (4, 6));
        let mut buf = Vec::new();
        for pad in 0..20 {
            for lit in ["ORDER_TIMEOUT", "Kafka Lag", "oom", "XyZzY", "nothing"] {
                buf.extend(std::iter::repeat_n(b'.', pad));
                buf.extend_from_slice(lit.as_bytes());
                buf.extend(std::iter::repeat_n(b'-', pad % 3));
                buf.push(b'\n');
            }
        }
        let want = naive_lines(&buf, &refs);
        let got = hinted_lines(&sampler, &buf);
        assert!(want.iter().all(|l| got.contains(l)), "{want:?} ⊄ {got:?}");
        let want = naive_lines(&buf, &refs[..2]);
        let got = hinted_lines(&long_sampler, &buf);
        assert!(want.iter().all(|l| got.contains(l)));
        // A literal ending at the buffer's very end (no room for a 4-byte load).
        assert!(sampler.find(b"xxoom", 0, 5).is_some());
    }

    #[test]
    fn learned_costs_steer_windows_away_from_common_text() {
        let sample = b"order_id=1 order_id=2 order_id=3 order_id=4\n".repeat(50);
        let counts = GramCounts::of(&sample, 4);
        let lits = vec!["order_deadline_exceeded".to_string()];
        let sampler = Sampler::build(&lits, &|g| counts.cost(g)).unwrap();
        assert_eq!(sampler.find(&sample, 0, sample.len()), None);
        let line = b"x ORDER_DEADLINE_EXCEEDED\n";
        assert!(sampler.find(line, 0, line.len()).is_some());
    }
}
