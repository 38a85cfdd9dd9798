//! One scan for all the rules of a source: every query's required literals go into one
//! Aho-Corasick automaton (ASCII case-insensitive), so a buffer is searched once for lines any
//! rule could match, and each candidate line says which rules are worth evaluating.
//!
//! A literal is used only if every line a query matches must contain it byte for byte (ASCII
//! case aside), however the line spells it:
//! - characters JSON writes with a short escape (`"`, `\`, `/`, controls) end a literal;
//! - characters another character lowercases to end a literal: `é` (from `É`), and the ASCII
//!   `k` and `i` (from the Kelvin sign `K` and `İ`);
//! - a literal made only of `0-9 . e E + -` is dropped: a JSON number is matched as the text
//!   serde_json prints (`5e2` is `500.0`), which need not appear in the line;
//! - when a literal holds anything but ASCII letters, digits and `_ . : -` (which every JSON
//!   encoder writes as they are), lines holding `\u` (a JSON `\uXXXX` escape, as Python writes
//!   non-ASCII) are candidates for every rule.
//!
//! A query with no usable literal (`NOT x`, ranges, numbers, regexes) is evaluated on every line,
//! and [`Prefilter::accepts_all`] says so.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::matcher::Node;
use super::Query;
use crate::filter::LineFilter;

/// A set of rule indexes (positions in the slice given to [`Prefilter::new`]).
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

    fn union_with(&mut self, other: &RuleSet) {
        if self.bits.len() < other.bits.len() {
            self.bits.resize(other.bits.len(), 0);
        }
        for (a, b) in self.bits.iter_mut().zip(&other.bits) {
            *a |= b;
        }
    }

    /// The rule indexes, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &bits)| {
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
}

/// The multi-pattern prefilter of one source's rules.
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// The literals; `None` when there is nothing to search for.
    searcher: Option<AhoCorasick>,
    /// Up to three bytes one of which every literal holds (both cases of a letter), chosen
    /// rare in logs: lines without any are skipped at `memchr` speed.
    anchors: Option<Anchors>,
    /// `\u`, when some literal could be written as a JSON escape; searched apart so the
    /// literal searcher keeps its rare-byte prefilter (`memchr` for bytes such as `_`).
    escape: Option<memchr::memmem::Finder<'static>>,
    /// For each literal pattern, the rules requiring it (triggers come after these).
    pattern_rules: Vec<RuleSet>,
    literals: Vec<String>,
    /// Rules without a usable literal: candidates on every line.
    always: RuleSet,
    all: RuleSet,
}

impl Prefilter {
    /// Builds the prefilter for `queries` (rule `i` is `queries[i]`).
    pub fn new(queries: &[&Query]) -> Prefilter {
        let mut all = RuleSet::with_capacity(queries.len());
        let mut always = RuleSet::with_capacity(queries.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut literals: Vec<String> = Vec::new();
        let mut pattern_rules: Vec<RuleSet> = Vec::new();
        for (rule, query) in queries.iter().enumerate() {
            all.insert(rule);
            match required(&query.root) {
                Some(alternatives) => {
                    for lit in alternatives {
                        let id = *index.entry(lit.clone()).or_insert_with(|| {
                            literals.push(lit);
                            pattern_rules.push(RuleSet::with_capacity(queries.len()));
                            literals.len() - 1
                        });
                        pattern_rules[id].insert(rule);
                    }
                }
                None => always.insert(rule),
            }
        }
        let searcher = (!literals.is_empty()).then(|| {
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .kind(Some(AhoCorasickKind::DFA))
                // The anchors below do the skipping, verifying whole lines: the automaton's own
                // rare-byte prefilter would restart on every `_` of a JSON key.
                .prefilter(false)
                .build(&literals)
                .or_else(|_| {
                    // Too many patterns for a DFA: the NFA is slower but has no size limit.
                    AhoCorasick::builder()
                        .ascii_case_insensitive(true)
                        .match_kind(MatchKind::Standard)
                        .build(&literals)
                })
                .expect("literal patterns always build")
        });
        let escape = literals
            .iter()
            .any(|l| {
                !l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.:-".contains(&b))
            })
            .then(|| memchr::memmem::Finder::new(b"\\u"));
        let anchors = Anchors::choose(&literals);
        Prefilter {
            searcher,
            anchors,
            escape,
            pattern_rules,
            literals,
            always,
            all,
        }
    }

    /// The distinct literals searched for, lowercased (for tools comparing with grep).
    pub fn literals(&self) -> &[String] {
        &self.literals
    }

    /// The rules worth evaluating on `line` (one line, without its `\n`).
    pub fn candidate_rules(&self, line: &[u8]) -> RuleSet {
        let mut out = RuleSet::with_capacity(self.all.bits.len() * 64);
        self.candidate_rules_into(line, &mut out);
        out
    }

    /// Like [`Prefilter::candidate_rules`], reusing `out` (cleared first) to avoid allocating.
    pub fn candidate_rules_into(&self, line: &[u8], out: &mut RuleSet) {
        out.clear();
        out.union_with(&self.always);
        let Some(searcher) = &self.searcher else {
            return;
        };
        if self.escape.as_ref().is_some_and(|f| f.find(line).is_some()) {
            out.union_with(&self.all);
            return;
        }
        for m in searcher.find_overlapping_iter(line) {
            out.union_with(&self.pattern_rules[m.pattern().as_usize()]);
        }
    }
}

impl LineFilter for Prefilter {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        let Some(searcher) = self.searcher.as_ref().filter(|_| self.always.is_empty()) else {
            crate::filter::AcceptAll.for_each_candidate(buf, candidate);
            return;
        };
        // Search the buffer, not each line: only around a hit are line boundaries looked for.
        // Literal hits and `\u` escape hits are two sorted streams; take the earlier each time.
        let mut from = 0;
        let mut next_escape = None;
        while from < buf.len() {
            if next_escape.is_none_or(|t: usize| t < from) {
                next_escape = Some(match &self.escape {
                    Some(f) => f.find(&buf[from..]).map_or(usize::MAX, |i| from + i),
                    None => usize::MAX,
                });
            }
            let escape = next_escape.unwrap_or(usize::MAX);
            let hit = self
                .next_hit(searcher, buf, from, escape.min(buf.len()))
                .unwrap_or(escape);
            if hit == usize::MAX {
                return;
            }
            let start = memchr::memrchr(b'\n', &buf[from..hit]).map_or(from, |i| from + i + 1);
            let Some(nl) = memchr::memchr(b'\n', &buf[hit..]) else {
                // Not a complete line: callers pass whole lines, so nothing follows.
                return;
            };
            let end = hit + nl;
            candidate(start, end);
            from = end + 1;
        }
    }

    fn accepts_all(&self) -> bool {
        self.searcher.is_none() || !self.always.is_empty()
    }
}

impl Prefilter {
    /// Where the first line of `buf[from..to]` holding a literal has one (any position in
    /// that line will do).
    fn next_hit(
        &self,
        searcher: &AhoCorasick,
        buf: &[u8],
        from: usize,
        to: usize,
    ) -> Option<usize> {
        let Some(anchors) = &self.anchors else {
            return searcher
                .find(Input::new(buf).range(from..to))
                .map(|m| m.start());
        };
        let mut pos = from;
        while pos < to {
            let a = pos + anchors.find(&buf[pos..to])?;
            // Verify the whole line around the anchor once, then move past it.
            let start = memchr::memrchr(b'\n', &buf[pos..a]).map_or(pos, |i| pos + i + 1);
            let end = memchr::memchr(b'\n', &buf[a..to]).map_or(to, |i| a + i);
            if let Some(m) = searcher.find(Input::new(buf).range(start..end)) {
                return Some(m.start());
            }
            pos = end + 1;
        }
        None
    }
}

/// Bytes to skip to with `memchr`: each literal holds one of them.
#[derive(Debug, Clone)]
struct Anchors {
    bytes: Vec<u8>,
}

impl Anchors {
    /// Each literal's rarest byte (letters count twice, for both cases); `None` when more than
    /// three bytes would be needed.
    fn choose(literals: &[String]) -> Option<Anchors> {
        let mut bytes: Vec<u8> = Vec::new();
        for lit in literals {
            let best = lit.bytes().min_by_key(|&b| {
                let cost = u32::from(log_rank(b));
                if b.is_ascii_alphabetic() {
                    cost + u32::from(log_rank(b.to_ascii_uppercase())) + 64
                } else {
                    cost
                }
            })?;
            for b in [best.to_ascii_lowercase(), best.to_ascii_uppercase()] {
                if !bytes.contains(&b) {
                    bytes.push(b);
                }
            }
        }
        (bytes.len() <= 3).then_some(Anchors { bytes })
    }

    fn find(&self, hay: &[u8]) -> Option<usize> {
        match *self.bytes.as_slice() {
            [a] => memchr::memchr(a, hay),
            [a, b] => memchr::memchr2(a, b, hay),
            [a, b, c] => memchr::memchr3(a, b, c, hay),
            _ => Some(0),
        }
    }
}

/// How rarely lines hold `literal`: longer and made of rarer bytes is better.
fn selectivity(literal: &str) -> u32 {
    literal.bytes().map(|b| 256 - u32::from(log_rank(b))).sum()
}

/// How common a byte is in log lines (higher is more common): timestamps make digits and
/// `-:.` common, JSON makes `"` `,` `:` common; `_` and rare letters are good anchors.
fn log_rank(b: u8) -> u8 {
    const LOWER_BY_FREQUENCY: &[u8] = b"etaoinsrhldcumfpgwybvkxjqz";
    match b {
        b'a'..=b'z' => {
            let i = LOWER_BY_FREQUENCY.iter().position(|&c| c == b).unwrap_or(0);
            250 - i as u8 * 6
        }
        b'A'..=b'Z' => log_rank(b.to_ascii_lowercase()) / 2,
        b'0'..=b'9' | b' ' | b'"' | b':' | b',' | b'.' | b'-' | b'=' | b'/' => 255,
        b'_' => 60,
        0x80.. => 40,
        _ => 80,
    }
}

/// Literals one of which every line matching `node` contains; `None` when there are none.
fn required(node: &Node) -> Option<Vec<String>> {
    match node {
        Node::Words(w) => best_word(w.words()).map(|l| vec![l]),
        Node::AnyWord { words, .. } => words.iter().map(|w| literal_of(w)).collect(),
        Node::Leaf { literal, .. } => literal.as_deref().and_then(literal_of).map(|l| vec![l]),
        Node::Not(_) => None,
        Node::Any(items) => {
            let mut out = Vec::new();
            for item in items.iter() {
                out.extend(required(item)?);
            }
            Some(out)
        }
        // Any one child's requirement holds for the whole; take the most selective.
        Node::All(items) => items.iter().filter_map(required).max_by_key(|alts| {
            (
                alts.iter().map(|l| selectivity(l)).min().unwrap_or(0),
                usize::MAX - alts.len(),
            )
        }),
    }
}

/// The best literal among words that must all appear.
fn best_word(words: &[Box<str>]) -> Option<String> {
    words
        .iter()
        .filter_map(|w| literal_of(w))
        .max_by_key(|l| selectivity(l))
}

/// The longest piece of `text` every spelling of it in a line contains (see the module docs).
fn literal_of(text: &str) -> Option<String> {
    let unstable = unstable_chars();
    let best = text
        .split(|c: char| matches!(c, '"' | '\\' | '/') || c.is_control() || unstable.contains(&c))
        .max_by_key(|piece| selectivity(piece))
        .unwrap_or("");
    let numeric = best
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'));
    (!best.is_empty() && !numeric).then(|| best.to_ascii_lowercase())
}

/// Characters some other character lowercases to (so a line may spell them differently);
/// ASCII letters count only when a non-ASCII character lowercases to them, as the automaton
/// already matches ASCII case-insensitively.
fn unstable_chars() -> &'static std::collections::HashSet<char> {
    static SET: OnceLock<std::collections::HashSet<char>> = OnceLock::new();
    SET.get_or_init(|| {
        all_chars()
            .flat_map(|c| {
                c.to_lowercase()
                    .filter(move |l| *l != c && !(c.is_ascii() && l.is_ascii()))
            })
            .collect()
    })
}

fn all_chars() -> impl Iterator<Item = char> {
    (0..=char::MAX as u32).filter_map(char::from_u32)
}

#[cfg(test)]
#[path = "prefilter_tests.rs"]
mod tests;
