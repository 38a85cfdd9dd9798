//! A small bitset of rule indexes, reused across lines without allocating.

/// A set of rule indexes (positions in the slice given to [`super::Prefilter::new`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleSet {
    bits: Vec<u64>,
}

impl RuleSet {
    /// An empty set with room for `rules` rules.
    pub fn with_capacity(rules: usize) -> Self {
        RuleSet {
            bits: vec![0; rules.div_ceil(64)],
        }
    }

    pub fn insert(&mut self, rule: usize) {
        let word = rule / 64;
        if word >= self.bits.len() {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << (rule % 64);
    }

    pub fn contains(&self, rule: usize) -> bool {
        self.bits
            .get(rule / 64)
            .is_some_and(|w| w & (1 << (rule % 64)) != 0)
    }

    /// Removes every rule, keeping the allocation.
    pub fn clear(&mut self) {
        self.bits.fill(0);
    }

    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|w| *w == 0)
    }

    pub fn len(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub(super) fn union_with(&mut self, other: &RuleSet) {
        if self.bits.len() < other.bits.len() {
            self.bits.resize(other.bits.len(), 0);
        }
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// The rule indexes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        ones(&self.bits)
    }
}

/// The indexes of the set bits of `words` (bit `i % 64` of word `i / 64`), ascending.
pub(super) fn ones(words: &[u64]) -> impl Iterator<Item = usize> + '_ {
    words.iter().enumerate().flat_map(|(w, &bits)| {
        let mut rest = bits;
        std::iter::from_fn(move || {
            if rest == 0 {
                return None;
            }
            let bit = rest.trailing_zeros() as usize;
            rest &= rest - 1;
            Some(w * 64 + bit)
        })
    })
}
