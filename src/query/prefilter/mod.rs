//! One scan for all the rules of a source: which lines any rule could match, and for a
//! line, which rules are worth evaluating.
//!
//! Each query is reduced to what a matching line must contain ([`required`]): clauses of
//! literals, all clauses holding. The scan looks for each rule's most selective clause (its
//! *primary* literals) with the cheapest method the literals allow: `memchr` on rare anchor
//! bytes, a sampled q-gram test, or the automaton itself; a line found is verified with
//! the automaton and, when some rule has more clauses, kept only if some rule has all of
//! them. The method is chosen again from the first large buffer read, by what is actually
//! rare in it. Lines holding a spelling literals cannot see ([`triggers`]) go to every rule.
//!
//! A query with no usable literal (`NOT x`, ranges, numbers, regexes) is evaluated on every
//! line, and [`Prefilter::accepts_all`] says so.

mod anchors;
mod first_pass;
mod pair_scan;
mod required;
mod rule_set;
mod sampler;
mod triggers;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use self::first_pass::FirstPass;
use self::triggers::Triggers;
use super::Query;
use crate::decode::FieldSelection;
use crate::filter::LineFilter;

pub use rule_set::RuleSet;

/// A buffer at least this long teaches the scan what is rare (at most `LEARN_MAX` of it).
const LEARN_MIN: usize = 64 * 1024;
const LEARN_MAX: usize = 1024 * 1024;

/// The multi-pattern prefilter of one source's rules.
#[derive(Debug)]
pub struct Prefilter {
    /// Every literal some rule requires, in one automaton; `None` when there are none.
    searcher: Option<AhoCorasick>,
    literals: Vec<String>,
    /// For each literal, the rules with a clause holding it.
    literal_rules: Vec<RuleSet>,
    /// For each rule, its clauses as literal indexes (none for rules in `always`).
    rule_clauses: Vec<Vec<Vec<usize>>>,
    /// The first pass before any text is seen (each rule's most selective clause by a fixed
    /// ranking); `None` when some rule has no literal.
    first: Option<FirstPass>,
    /// The first pass chosen on the first large buffer, by what is rare in it.
    learned: OnceLock<FirstPass>,
    triggers: Triggers,
    /// Rules without a usable literal: candidates on every line.
    always: RuleSet,
    all: RuleSet,
    /// The fields the rules read, when known (see [`Prefilter::reading`]).
    fields: Option<Arc<FieldSelection>>,
}

impl Prefilter {
    /// Builds the prefilter for `queries` (rule `i` is `queries[i]`).
    pub fn new(queries: &[&Query]) -> Prefilter {
        let n = queries.len();
        let mut all = RuleSet::with_capacity(n);
        let mut always = RuleSet::with_capacity(n);
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut literals: Vec<String> = Vec::new();
        let mut literal_rules: Vec<RuleSet> = Vec::new();
        let mut rule_clauses = Vec::with_capacity(n);
        for (rule, query) in queries.iter().enumerate() {
            all.insert(rule);
            let clauses = required::clauses(&query.root);
            if clauses.is_empty() {
                always.insert(rule);
                rule_clauses.push(Vec::new());
                continue;
            }
            let mut ids = Vec::with_capacity(clauses.len());
            for clause in clauses {
                let clause_ids = clause
                    .into_iter()
                    .map(|lit| {
                        let id = *index.entry(lit.clone()).or_insert_with(|| {
                            literals.push(lit);
                            literal_rules.push(RuleSet::with_capacity(n));
                            literals.len() - 1
                        });
                        literal_rules[id].insert(rule);
                        id
                    })
                    .collect();
                ids.push(clause_ids);
            }
            rule_clauses.push(ids);
        }
        let searcher = (!literals.is_empty()).then(|| automaton(&literals));
        // Before any text, each rule's first clause: the most selective by the ranking.
        let first = always
            .is_empty()
            .then(|| FirstPass::new(&literals, &rule_clauses, None, None, searcher.as_ref()))
            .flatten();
        let safe = |b: u8| b.is_ascii_alphanumeric() || b"_.:-".contains(&b);
        let folded = required::folded_ascii();
        let triggers = Triggers::new(
            literals.iter().any(|l| !l.bytes().all(safe)),
            literals
                .iter()
                .any(|l| l.chars().any(|c| folded.contains(&c))),
        );
        Prefilter {
            searcher,
            literals,
            literal_rules,
            rule_clauses,
            first,
            learned: OnceLock::new(),
            triggers,
            always,
            all,
            fields: None,
        }
    }

    /// The fields the rules read, when known (what [`LineFilter::fields`] hands sources).
    pub fn field_selection(&self) -> Option<&Arc<FieldSelection>> {
        self.fields.as_ref()
    }

    /// Tells sources that the rules read only `fields` of a line, so only those are decoded.
    pub fn reading(mut self, fields: FieldSelection) -> Self {
        self.fields = Some(Arc::new(fields));
        self
    }

    /// The literals the scan looks for first, lowercased: one of them is in every line a
    /// rule can match (for tools comparing with grep).
    pub fn literals(&self) -> &[String] {
        self.first.as_ref().map_or(&[], |p| p.literals())
    }

    /// The rules worth evaluating on `line` (one line, without its `\n`).
    pub fn candidate_rules(&self, line: &[u8]) -> RuleSet {
        let mut out = RuleSet::with_capacity(self.rule_clauses.len());
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
        if self.triggers.find(line).is_some() {
            out.union_with(&self.all);
            return;
        }
        self.satisfied(searcher, line, &mut |rule| {
            out.insert(rule);
            true
        });
    }

    /// Calls `found` with each rule whose clauses all hold in `line`, until it returns false.
    fn satisfied(&self, searcher: &AhoCorasick, line: &[u8], found: &mut dyn FnMut(usize) -> bool) {
        let mut hits = LiteralHits::new(self.literals.len());
        for m in searcher.find_overlapping_iter(line) {
            hits.insert(m.pattern().as_usize());
        }
        let mut seen = RuleSet::default();
        for lit in hits.iter() {
            for rule in self.literal_rules[lit].iter() {
                if seen.contains(rule) {
                    continue;
                }
                seen.insert(rule);
                let ok = self.rule_clauses[rule]
                    .iter()
                    .all(|clause| clause.iter().any(|&l| hits.contains(l)));
                if ok && !found(rule) {
                    return;
                }
            }
        }
    }

    /// Whether some rule's clauses all hold in `line`.
    fn any_rule(&self, line: &[u8]) -> bool {
        let Some(searcher) = &self.searcher else {
            return true;
        };
        let mut any = false;
        self.satisfied(searcher, line, &mut |_| {
            any = true;
            false
        });
        any
    }

    /// The first pass for `buf`: learned from the first large buffer, else the first guess.
    fn first_pass(&self, buf: &[u8]) -> Option<&FirstPass> {
        let first = self.first.as_ref()?;
        if let Some(learned) = self.learned.get() {
            return Some(learned);
        }
        if buf.len() < LEARN_MIN {
            return Some(first);
        }
        Some(self.learned.get_or_init(|| {
            let sample = &buf[..buf.len().min(LEARN_MAX)];
            let cost = self.literal_counts(sample);
            let mut pass = FirstPass::new(
                &self.literals,
                &self.rule_clauses,
                Some(&cost),
                Some(sample),
                self.searcher.as_ref(),
            )
            .expect("the same clauses built the first guess");
            if !pass.trusts_all() && self.clauses_rarely_reject(&pass, sample) {
                pass.trust_all();
            }
            pass
        }))
    }

    /// Whether, in `sample`, most lines the first pass finds have some rule's clauses all
    /// there: then checking them costs more than it saves.
    fn clauses_rarely_reject(&self, pass: &FirstPass, sample: &[u8]) -> bool {
        let (mut found, mut kept) = (0usize, 0usize);
        let mut pos = 0;
        while let Some(f) = pass.next(sample, pos, sample.len()) {
            found += 1;
            kept += usize::from(f.sufficient || self.any_rule(&sample[f.start..f.end]));
            pos = f.end + 1;
        }
        found >= 16 && kept * 2 > found
    }

    /// How often each literal occurs in `sample`.
    fn literal_counts(&self, sample: &[u8]) -> Vec<u64> {
        let mut counts = vec![0u64; self.literals.len()];
        if let Some(searcher) = &self.searcher {
            for m in searcher.find_overlapping_iter(sample) {
                counts[m.pattern().as_usize()] += 1;
            }
        }
        counts
    }

    /// The next line starting at or after `from` that the first pass finds before `to` and
    /// some rule's clauses all hold in, as `(start, end)` (`end` at its `\n`).
    fn next_line(
        &self,
        pass: &FirstPass,
        buf: &[u8],
        from: usize,
        to: usize,
    ) -> Option<(usize, usize)> {
        let mut pos = from;
        while pos < to {
            let found = pass.next(buf, pos, to)?;
            if found.sufficient || self.any_rule(&buf[found.start..found.end]) {
                return Some((found.start, found.end));
            }
            pos = found.end + 1;
        }
        None
    }
}

impl LineFilter for Prefilter {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        let Some(pass) = self.first_pass(buf) else {
            crate::filter::AcceptAll.for_each_candidate(buf, candidate);
            return;
        };
        // Search the buffer, not each line: only around a hit are line boundaries looked for.
        // Literal lines and trigger lines are two sorted streams; take the earlier each time.
        let mut from = 0;
        let mut next_trigger = None;
        while from < buf.len() {
            if next_trigger.is_none_or(|t: usize| t < from) {
                next_trigger = Some(
                    self.triggers
                        .find(&buf[from..])
                        .map_or(usize::MAX, |i| from + i),
                );
            }
            let trigger = next_trigger.unwrap_or(usize::MAX);
            let line = match self.next_line(pass, buf, from, trigger.min(buf.len())) {
                Some(line) => line,
                None if trigger == usize::MAX => return,
                None => {
                    let start =
                        memchr::memrchr(b'\n', &buf[from..trigger]).map_or(from, |i| from + i + 1);
                    let Some(nl) = memchr::memchr(b'\n', &buf[trigger..]) else {
                        return;
                    };
                    (start, trigger + nl)
                }
            };
            candidate(line.0, line.1);
            from = line.1 + 1;
        }
    }

    fn accepts_all(&self) -> bool {
        self.first.is_none()
    }

    fn fields(&self) -> Option<Arc<FieldSelection>> {
        self.fields.clone()
    }
}

/// The literal automaton: ASCII case-insensitive, every occurrence reported.
pub(super) fn automaton(literals: &[String]) -> AhoCorasick {
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        // The scan does the skipping, verifying whole lines: the automaton's own rare-byte
        // prefilter would restart on every `_` of a JSON key.
        .prefilter(false)
        .build(literals)
        .or_else(|_| {
            // Too many patterns for a DFA: the NFA is slower but has no size limit.
            AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .match_kind(MatchKind::Standard)
                .build(literals)
        })
        .expect("literal patterns always build")
}

/// Which literals a line holds: on the stack for up to 512 literals.
enum LiteralHits {
    Small([u64; 8]),
    Large(Vec<u64>),
}

impl LiteralHits {
    fn new(literals: usize) -> Self {
        if literals <= 512 {
            LiteralHits::Small([0; 8])
        } else {
            LiteralHits::Large(vec![0; literals.div_ceil(64)])
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            LiteralHits::Small(w) => w,
            LiteralHits::Large(w) => w,
        }
    }

    fn insert(&mut self, i: usize) {
        let words = match self {
            LiteralHits::Small(w) => &mut w[..],
            LiteralHits::Large(w) => &mut w[..],
        };
        words[i / 64] |= 1 << (i % 64);
    }

    fn contains(&self, i: usize) -> bool {
        self.words()[i / 64] & (1 << (i % 64)) != 0
    }

    fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        rule_set::ones(self.words())
    }
}

#[cfg(test)]
mod tests;
