//! HyperLogLog: distinct counts in fixed memory (4 KiB, about 1.6% standard error) for
//! `cardinality` rules whose thresholds are too large to track every value exactly.
//!
//! The hash is fixed (FNV-1a, then a SplitMix64 finalizer) rather than seeded per process,
//! because sketches are stored and merged across restarts.

use serde::{Deserialize, Serialize};

/// Register index bits: 2^12 = 4096 registers.
const P: u32 = 12;
const M: usize = 1 << P;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HyperLogLog {
    /// One byte per register, base64 when stored.
    #[serde(with = "registers")]
    registers: Vec<u8>,
    /// Σ 2^-register and the number of zero registers, kept up to date by `insert` so
    /// counting is O(1); recomputed after loading or merging.
    #[serde(skip)]
    cache: Option<(f64, usize)>,
}

impl PartialEq for HyperLogLog {
    fn eq(&self, other: &Self) -> bool {
        self.registers == other.registers
    }
}

impl Eq for HyperLogLog {}

impl Default for HyperLogLog {
    fn default() -> Self {
        HyperLogLog {
            registers: vec![0; M],
            cache: Some((M as f64, M)),
        }
    }
}

fn hash(value: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in value.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finalizer: FNV alone leaves the high bits poorly mixed for short inputs.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

impl HyperLogLog {
    /// Adds `value`; true when the sketch changed (so a cached count is stale).
    pub fn insert(&mut self, value: &str) -> bool {
        let h = hash(value);
        let idx = (h >> (64 - P)) as usize;
        // Leading zeros of the remaining bits, plus one (capped by the bits available).
        let rest = (h << P) | (1 << (P - 1));
        let rank = rest.leading_zeros() as u8 + 1;
        let old = self.registers[idx];
        if rank > old {
            self.registers[idx] = rank;
            if let Some((sum, zeros)) = &mut self.cache {
                *sum += 2f64.powi(-i32::from(rank)) - 2f64.powi(-i32::from(old));
                *zeros -= usize::from(old == 0);
            }
            return true;
        }
        false
    }

    /// Adds every value `other` has seen.
    pub fn merge(&mut self, other: &HyperLogLog) {
        for (a, b) in self.registers.iter_mut().zip(&other.registers) {
            *a = (*a).max(*b);
        }
        self.cache = None;
    }

    /// Estimated distinct values (with the small-range correction, exact-ish when small).
    pub fn count(&mut self) -> u64 {
        let registers = &self.registers;
        let (sum, zeros) = *self.cache.get_or_insert_with(|| {
            let sum = registers.iter().map(|&r| 2f64.powi(-i32::from(r))).sum();
            (sum, registers.iter().filter(|&&r| r == 0).count())
        });
        let m = M as f64;
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }
}

mod registers {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(r: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(r))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)?;
        if bytes.len() != super::M {
            return Err(serde::de::Error::custom("wrong number of registers"));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_counts_are_exact_and_large_ones_within_a_few_percent() {
        let mut h = HyperLogLog::default();
        for v in ["a", "b", "c", "a", "b"] {
            h.insert(v);
        }
        assert_eq!(h.count(), 3);
        let mut big = HyperLogLog::default();
        for i in 0..100_000 {
            big.insert(&format!("user-{i}"));
        }
        let n = big.count() as f64;
        assert!((n - 100_000.0).abs() / 100_000.0 < 0.05, "estimate {n}");
    }

    #[test]
    fn merges_and_round_trips_through_json() {
        let (mut a, mut b) = (HyperLogLog::default(), HyperLogLog::default());
        a.insert("x");
        b.insert("y");
        b.insert("x");
        a.merge(&b);
        assert_eq!(a.count(), 2);
        let json = serde_json::to_string(&a).unwrap();
        let mut back: HyperLogLog = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.count(), 2);
        assert!(serde_json::from_str::<HyperLogLog>(r#"{"registers":"AAAA"}"#).is_err());
    }
}
