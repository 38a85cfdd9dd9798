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
mod required;
mod rule_set;
mod sampler;
mod triggers;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use self::anchors::Anchors;
use self::sampler::{GramCounts, Sampler};
use self::triggers::Triggers;
use super::Query;
use crate::decode::FieldSelection;
use crate::filter::LineFilter;

pub use rule_set::RuleSet;

/// A buffer at least this long teaches the scan what is rare (at most `LEARN_MAX` of it).
const LEARN_MIN: usize = 64 * 1024;
const LEARN_MAX: usize = 1024 * 1024;

/// What verifying a line after a sampled hit costs, in sampled tests.
const VERIFY_COST: f64 = 150.0;

/// Anchors are used only when at most this share of lines holds one.
const ANCHOR_SHARE: f64 = 0.05;

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
    /// Some rule has more than one clause: one literal in a line is not proof enough.
    conjunctive: bool,
    /// The first pass; `None` when some rule has no literal.
    primary: Option<Primary>,
    triggers: Triggers,
    /// Rules without a usable literal: candidates on every line.
    always: RuleSet,
    all: RuleSet,
    /// The fields the rules read, when known (see [`Prefilter::reading`]).
    fields: Option<Arc<FieldSelection>>,
}

/// Each rule's most selective clause, and how to find lines holding one of its literals.
#[derive(Debug)]
struct Primary {
    searcher: AhoCorasick,
    literals: Vec<String>,
    /// Before any text is seen.
    first: Scan,
    /// Chosen on the first large buffer.
    learned: OnceLock<Scan>,
}

#[derive(Debug)]
enum Scan {
    Anchors(Anchors),
    Sampled(Sampler),
    Automaton,
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
        let mut primary_literals: Vec<String> = Vec::new();
        for (rule, query) in queries.iter().enumerate() {
            all.insert(rule);
            let clauses = required::clauses(&query.root);
            if clauses.is_empty() {
                always.insert(rule);
                rule_clauses.push(Vec::new());
                continue;
            }
            let mut ids = Vec::with_capacity(clauses.len());
            for (k, clause) in clauses.into_iter().enumerate() {
                if k == 0 {
                    // The most selective clause comes first.
                    primary_literals.extend(clause.iter().cloned());
                }
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
        primary_literals.sort();
        primary_literals.dedup();
        let conjunctive = rule_clauses.iter().any(|c| c.len() > 1);
        let searcher = (!literals.is_empty()).then(|| automaton(&literals));
        let primary = (always.is_empty() && !primary_literals.is_empty()).then(|| {
            let first = Scan::before_text(&primary_literals);
            Primary {
                searcher: automaton(&primary_literals),
                literals: primary_literals,
                first,
                learned: OnceLock::new(),
            }
        });
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
            conjunctive,
            primary,
            triggers,
            always,
            all,
            fields: None,
        }
    }

    /// Tells sources that the rules read only `fields` of a line, so only those are decoded.
    pub fn reading(mut self, fields: FieldSelection) -> Self {
        self.fields = Some(Arc::new(fields));
        self
    }

    /// The literals the scan looks for first, lowercased: one of them is in every line a
    /// rule can match (for tools comparing with grep).
    pub fn literals(&self) -> &[String] {
        self.primary.as_ref().map_or(&[], |p| &p.literals)
    }

    /// Every literal some rule requires.
    pub fn all_literals(&self) -> &[String] {
        &self.literals
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

    /// The next line starting at or after `from` that the first pass finds before `to` and
    /// verification keeps, as `(start, end)` (`end` at its `\n`).
    fn next_line(
        &self,
        primary: &Primary,
        buf: &[u8],
        from: usize,
        to: usize,
    ) -> Option<(usize, usize)> {
        let scan = primary.scan(buf);
        let mut pos = from;
        while pos < to {
            let hit = match scan {
                Scan::Anchors(a) => pos + a.find(&buf[pos..to])?,
                Scan::Sampled(s) => s.find(buf, pos, to)?,
                Scan::Automaton => primary
                    .searcher
                    .find(Input::new(buf).range(pos..to))?
                    .start(),
            };
            let start = memchr::memrchr(b'\n', &buf[pos..hit]).map_or(pos, |i| pos + i + 1);
            // Not a complete line: callers pass whole lines, so nothing follows.
            let end = hit + memchr::memchr(b'\n', &buf[hit..])?;
            let line = &buf[start..end];
            let holds = matches!(scan, Scan::Automaton) || primary.searcher.is_match(line);
            if holds && (!self.conjunctive || self.any_rule(line)) {
                return Some((start, end));
            }
            pos = end + 1;
        }
        None
    }
}

impl LineFilter for Prefilter {
    fn for_each_candidate(&self, buf: &[u8], candidate: &mut dyn FnMut(usize, usize)) {
        let Some(primary) = &self.primary else {
            crate::filter::AcceptAll.for_each_candidate(buf, candidate);
            return;
        };
        // Search the buffer, not each line: only around a hit are line boundaries looked for.
        // Literal lines and trigger lines are two sorted streams; take the earlier each time.
        let mut from = 0;
        let mut next_trigger = None;
        while from < buf.len() {
            if next_trigger.is_none_or(|t: usize| t < from) {
                next_trigger = Some(match self.triggers.is_active() {
                    true => self
                        .triggers
                        .find(&buf[from..])
                        .map_or(usize::MAX, |i| from + i),
                    false => usize::MAX,
                });
            }
            let trigger = next_trigger.unwrap_or(usize::MAX);
            let line = match self.next_line(primary, buf, from, trigger.min(buf.len())) {
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
        self.primary.is_none()
    }

    fn fields(&self) -> Option<Arc<FieldSelection>> {
        self.fields.clone()
    }
}

impl Primary {
    /// The scan to use on `buf`: learned from the first large buffer, else the first guess.
    fn scan(&self, buf: &[u8]) -> &Scan {
        if let Some(scan) = self.learned.get() {
            return scan;
        }
        if buf.len() < LEARN_MIN {
            return &self.first;
        }
        self.learned
            .get_or_init(|| Scan::learned(&self.literals, &buf[..buf.len().min(LEARN_MAX)]))
    }
}

impl Scan {
    fn before_text(literals: &[String]) -> Scan {
        if let Some(anchors) = Anchors::choose(literals) {
            return Scan::Anchors(anchors);
        }
        Sampler::build(literals, &sampler::ranked_cost).map_or(Scan::Automaton, Scan::Sampled)
    }

    fn learned(literals: &[String], sample: &[u8]) -> Scan {
        let anchors = Anchors::choose(literals);
        if let Some(a) = anchors
            .as_ref()
            .filter(|a| a.line_share(sample) <= ANCHOR_SHARE)
        {
            return Scan::Anchors(a.clone());
        }
        let sampled = Sampler::q_for(literals).and_then(|q| {
            let counts = GramCounts::of(sample, q);
            let longest = Sampler::max_stride(literals)?;
            // Per byte: one test every `stride` bytes, plus a line verified per hit. Short
            // strides test more often but can pick rarer windows.
            (1..=longest)
                .map(|stride| {
                    let (s, hits) = Sampler::with_stride(literals, stride, &|g| counts.cost(g));
                    let hit_rate = hits as f64 / counts.positions().max(1) as f64;
                    let cost = (1.0 + hit_rate * VERIFY_COST) / stride as f64;
                    (s, cost)
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(s, _)| s)
        });
        match (sampled, anchors) {
            (Some(s), _) => Scan::Sampled(s),
            (None, Some(a)) => Scan::Anchors(a),
            (None, None) => Scan::Automaton,
        }
    }
}

/// The literal automaton: ASCII case-insensitive, every occurrence reported.
fn automaton(literals: &[String]) -> AhoCorasick {
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
        self.words().iter().enumerate().flat_map(|(w, &bits)| {
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

#[cfg(test)]
mod tests;
