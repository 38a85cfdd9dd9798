//! Which partition a match belongs to: a stable hash of (rule, key) over a fixed number of
//! partitions. Stable means the same on every host, every build and every Klaxon version
//! (FNV-1a over the bytes, written out here, not `std`'s randomly seeded hasher): an edge
//! and a worker must agree, and a rule's state must not move partitions after an upgrade.

/// FNV-1a, 64 bits.
fn fnv1a(bytes: impl IntoIterator<Item = u8>, mut hash: u64) -> u64 {
    for b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// MurmurHash3's 64-bit finalizer: FNV-1a's high bits barely change between keys that
/// differ in their last characters (`sku-1`, `sku-2`), and the partition is taken from
/// the high bits.
fn mix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FNV-1a over `a 0xff b`, finished with [`mix`]: the same on every host, build and
/// version (partitions; the rendezvous ranking of leases).
pub(crate) fn stable_hash(a: &str, b: &str) -> u64 {
    mix(fnv1a(a.bytes().chain([0xff]).chain(b.bytes()), FNV_OFFSET))
}

/// The partition of `rule`'s `key` (its canonical text) among `partitions` (at least 1).
/// The rule name and the key are separated by a byte neither can hold (`0xff` is never in
/// UTF-8), so ("ab", "c") and ("a", "bc") hash apart.
pub fn partition_of(rule: &str, key: &str, partitions: u16) -> u16 {
    let hash = stable_hash(rule, key);
    // Multiply-shift instead of `%`: every partition equally likely, no modulo bias.
    ((u128::from(hash) * u128::from(partitions.max(1))) >> 64) as u16
}

/// The JetStream subject a partition's matches are published on.
pub fn subject(prefix: &str, partition: u16) -> String {
    format!("{prefix}.{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_everywhere_and_forever() {
        // Pinned values: changing the hash moves every key's state to another partition.
        assert_eq!(fnv1a(*b"", FNV_OFFSET), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(*b"a", FNV_OFFSET), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(*b"foobar", FNV_OFFSET), 0x8594_4171_f739_67e8);
        // Computed independently (Python, the same three steps).
        assert_eq!(partition_of("order-errors", r#"{"sku":"A-1"}"#, 64), 19);
        assert_eq!(partition_of("order-errors", r#"{"sku":"A-2"}"#, 64), 38);
    }

    #[test]
    fn rule_and_key_do_not_run_together() {
        let spread: std::collections::BTreeSet<u16> = (0..50)
            .map(|i| partition_of(&format!("r{i}"), "k", 1024))
            .collect();
        assert!(spread.len() > 40, "{spread:?}");
        // The separator keeps these apart (equal only by a 1-in-65536 accident).
        assert_ne!(
            partition_of("ab", "c", u16::MAX),
            partition_of("a", "bc", u16::MAX)
        );
    }

    #[test]
    fn partitions_fill_evenly() {
        let mut counts = [0u32; 16];
        for i in 0..16_000 {
            counts[usize::from(partition_of("r", &format!("sku-{i}"), 16))] += 1;
        }
        for c in counts {
            assert!((880..1120).contains(&c), "{counts:?}");
        }
        assert_eq!(partition_of("r", "k", 1), 0);
        assert_eq!(
            partition_of("r", "k", 0),
            0,
            "no partitions is one partition"
        );
        assert_eq!(subject("klaxon.match", 7), "klaxon.match.7");
    }
}
