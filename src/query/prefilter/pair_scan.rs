//! The first pass for a few literals: two well-separated bytes of each, rare in the text,
//! compared 32 positions at a time (AVX2), case folded (`| 0x20`, as the sampled scan
//! folds). A line where both bytes of a literal stand at their distance is verified by the
//! caller; others are passed over at close to memory speed. Used only where the CPU has
//! AVX2; elsewhere the sampled scan serves.

/// At most this many literals: each adds two compares per 32 bytes.
pub(super) const MAX_LITERALS: usize = 4;

#[derive(Debug, Clone)]
pub(super) struct PairScan {
    pairs: Vec<Pair>,
    /// The largest second offset: windows end this far past their start.
    reach: usize,
}

#[derive(Debug, Clone, Copy)]
struct Pair {
    first: u8,
    second: u8,
    /// Offsets of the two bytes in the literal, `first_at < second_at`.
    first_at: usize,
    second_at: usize,
}

impl PairScan {
    /// The pairs for `literals` (lowercase, at least 2 bytes each), choosing each literal's
    /// two rarest bytes by `count` (folded byte → occurrences in a sample); `None` without
    /// AVX2, with too many literals, or with a literal too short.
    pub(super) fn new(literals: &[String], count: &[u64; 256]) -> Option<PairScan> {
        if !avx2() || literals.is_empty() || literals.len() > MAX_LITERALS {
            return None;
        }
        let mut pairs = Vec::with_capacity(literals.len());
        for lit in literals {
            let bytes = lit.as_bytes();
            if bytes.len() < 2 {
                return None;
            }
            let mut order: Vec<usize> = (0..bytes.len()).collect();
            order.sort_by_key(|&i| (count[usize::from(bytes[i] | 0x20)], i));
            let (a, b) = (order[0], order[1]);
            let (first_at, second_at) = (a.min(b), a.max(b));
            pairs.push(Pair {
                first: bytes[first_at] | 0x20,
                second: bytes[second_at] | 0x20,
                first_at,
                second_at,
            });
        }
        let reach = pairs.iter().map(|p| p.second_at).max().unwrap_or(0);
        Some(PairScan { pairs, reach })
    }

    /// The expected share of positions where some pair stands by chance, in text whose
    /// folded bytes occur `count` times in `total`.
    pub(super) fn chance(&self, count: &[u64; 256], total: u64) -> f64 {
        let share = |b: u8| count[usize::from(b)] as f64 / total.max(1) as f64;
        self.pairs
            .iter()
            .map(|p| share(p.first) * share(p.second))
            .sum()
    }

    /// A position in `buf[from..to]` where some literal's pair stands (a literal occurring
    /// wholly before `to` always gives one at or before its start), or `None`.
    pub(super) fn find(&self, buf: &[u8], from: usize, to: usize) -> Option<usize> {
        let to = to.min(buf.len());
        let mut pos = from;
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: `new` built this scan only after checking AVX2 is present.
            match unsafe { self.find_avx2(buf, pos, to) } {
                Ok(hit) => return Some(hit),
                Err(rest) => pos = rest,
            }
        }
        while pos < to {
            let hit = self.pairs.iter().any(|p| {
                pos + p.second_at < to
                    && buf[pos + p.first_at] | 0x20 == p.first
                    && buf[pos + p.second_at] | 0x20 == p.second
            });
            if hit {
                return Some(pos);
            }
            pos += 1;
        }
        None
    }

    /// The vector part of [`PairScan::find`]: `Ok(hit)`, or `Err(pos)` where the windows
    /// that fit before `to` ran out.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn find_avx2(&self, buf: &[u8], mut pos: usize, to: usize) -> Result<usize, usize> {
        use std::arch::x86_64::*;
        let fold = _mm256_set1_epi8(0x20);
        // Windows pos..pos+32 read up to pos + 31 + reach, which stays below `to`.
        while pos + 32 + self.reach <= to {
            let base = buf.as_ptr().add(pos);
            let mut any = _mm256_setzero_si256();
            for p in &self.pairs {
                let a = _mm256_or_si256(_mm256_loadu_si256(base.add(p.first_at).cast()), fold);
                let b = _mm256_or_si256(_mm256_loadu_si256(base.add(p.second_at).cast()), fold);
                let both = _mm256_and_si256(
                    _mm256_cmpeq_epi8(a, _mm256_set1_epi8(p.first as i8)),
                    _mm256_cmpeq_epi8(b, _mm256_set1_epi8(p.second as i8)),
                );
                any = _mm256_or_si256(any, both);
            }
            let mask = _mm256_movemask_epi8(any) as u32;
            if mask != 0 {
                return Ok(pos + mask.trailing_zeros() as usize);
            }
            pos += 32;
        }
        Err(pos)
    }
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_occurrence_in_any_case_at_any_alignment() {
        let lits = vec!["checkout_deadlock".to_string(), "kafka lag".to_string()];
        let mut count = [0u64; 256];
        count[usize::from(b'k')] = 1; // make `k` look common: other bytes get chosen
        let Some(scan) = PairScan::new(&lits, &count) else {
            return; // no AVX2 here: the sampled scan serves instead
        };
        for pad in 0..70 {
            for lit in ["CHECKOUT_DEADLOCK", "Kafka Lag", "checkout_deadlock"] {
                let mut buf = vec![b'.'; pad];
                buf.extend_from_slice(lit.as_bytes());
                buf.extend(std::iter::repeat_n(b'-', 40));
                let at = scan.find(&buf, 0, buf.len()).expect("found");
                assert!(at <= pad, "{lit} at {pad}: hint at {at}");
                // Right at the end of the range too.
                let end = pad + lit.len();
                assert!(
                    scan.find(&buf, 0, end).is_some(),
                    "{lit} ending the range at {pad}"
                );
            }
        }
        assert_eq!(scan.find(&[b'x'; 300], 0, 300), None);
    }
}
