//! The first pass over a buffer: each rule's chosen clause (one of its literals is in every
//! line it matches), and the cheapest way to find lines holding one — `memchr` on rare anchor
//! bytes, a sampled q-gram test, or the automaton itself. Built once from a fixed ranking
//! before any text is seen, and again from the first large buffer, by what is rare in it.

use aho_corasick::{AhoCorasick, Input};

use super::anchors::Anchors;
use super::pair_scan::{self, PairScan};
use super::sampler::{self, GramCounts, Sampler};

/// What verifying a line after a sampled hit costs, in sampled tests.
const VERIFY_COST: f64 = 150.0;

/// Pairs are used only when chance pairs are expected in at most this share of lines.
const PAIR_LINE_SHARE: f64 = 0.05;

/// Anchors are used only when at most this share of lines holds one.
const ANCHOR_SHARE: f64 = 0.05;

#[derive(Debug)]
pub(super) struct FirstPass {
    searcher: AhoCorasick,
    literals: Vec<String>,
    /// Per literal: some rule has it in its chosen clause and no other clause, so a line
    /// holding it is a candidate without checking further.
    sufficient: Vec<bool>,
    scan: Scan,
}

#[derive(Debug)]
enum Scan {
    Anchors(Anchors),
    Pairs(PairScan),
    Sampled(Sampler),
    Automaton,
}

/// A line the first pass found, and whether its literal alone makes it a candidate.
pub(super) struct Found {
    pub start: usize,
    pub end: usize,
    pub sufficient: bool,
}

impl FirstPass {
    /// The pass over each rule's clause chosen by `cost` (per literal of `literals`, lower is
    /// rarer; without costs, each rule's first clause), with the scan `sample` (when given)
    /// shows cheapest; `every` is the automaton over all of `literals`, if built. `None`
    /// when there is nothing to look for.
    pub(super) fn new(
        literals: &[String],
        rule_clauses: &[Vec<Vec<usize>>],
        cost: Option<&[u64]>,
        sample: Option<&[u8]>,
        every: Option<&AhoCorasick>,
    ) -> Option<FirstPass> {
        let mut chosen: Vec<usize> = Vec::new();
        let mut sufficient_ids: Vec<usize> = Vec::new();
        for clauses in rule_clauses {
            let best = match cost {
                None => clauses.first(),
                Some(cost) => clauses
                    .iter()
                    .min_by_key(|c| c.iter().map(|&l| cost[l]).sum::<u64>()),
            };
            let Some(best) = best else { continue };
            chosen.extend(best);
            if clauses.len() == 1 {
                sufficient_ids.extend(best);
            }
        }
        chosen.sort_unstable();
        chosen.dedup();
        if chosen.is_empty() {
            return None;
        }
        // Every literal chosen (rules of one clause each, the common case): the automaton
        // over all of them serves, in the same order.
        let mut names: Vec<String> = chosen.iter().map(|&l| literals[l].clone()).collect();
        let searcher = match every {
            Some(all) if chosen.len() == literals.len() => all.clone(),
            _ => super::automaton(&names),
        };
        let sufficient: Vec<bool> = chosen.iter().map(|l| sufficient_ids.contains(l)).collect();
        let scan = match sample {
            None => Scan::before_text(&names),
            Some(sample) => Scan::learned(&names, sample),
        };
        names.shrink_to_fit();
        Some(FirstPass {
            searcher,
            literals: names,
            sufficient,
            scan,
        })
    }

    /// Takes every found line as a candidate: checking the other clauses was found not to
    /// pay (most lines that hold a first literal hold the rest too). The engine still
    /// evaluates each rule's query, so this only moves work, never changes a result.
    pub(super) fn trust_all(&mut self) {
        self.sufficient.iter_mut().for_each(|s| *s = true);
    }

    /// Whether every literal is sufficient.
    pub(super) fn trusts_all(&self) -> bool {
        self.sufficient.iter().all(|&s| s)
    }

    pub(super) fn literals(&self) -> &[String] {
        &self.literals
    }

    /// The next line starting at or after `from` holding one of the literals at a position
    /// before `to`. A line is whole: it ends at a `\n` (`None` when none follows).
    pub(super) fn next(&self, buf: &[u8], from: usize, to: usize) -> Option<Found> {
        let mut pos = from;
        while pos < to {
            let (hit, pattern) = match &self.scan {
                Scan::Anchors(a) => (pos + a.find(&buf[pos..to])?, None),
                Scan::Pairs(p) => (p.find(buf, pos, to)?, None),
                Scan::Sampled(s) => (s.find(buf, pos, to)?, None),
                Scan::Automaton => {
                    let m = self.searcher.find(Input::new(buf).range(pos..to))?;
                    (m.start(), Some(m.pattern()))
                }
            };
            let start = memchr::memrchr(b'\n', &buf[pos..hit]).map_or(pos, |i| pos + i + 1);
            let end = hit + memchr::memchr(b'\n', &buf[hit..])?;
            let pattern =
                pattern.or_else(|| self.searcher.find(&buf[start..end]).map(|m| m.pattern()));
            if let Some(p) = pattern {
                return Some(Found {
                    start,
                    end,
                    sufficient: self.sufficient[p.as_usize()],
                });
            }
            pos = end + 1;
        }
        None
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
        let mut bytes = [0u64; 256];
        for &b in sample {
            bytes[usize::from(b)] += 1;
        }
        let anchors = Anchors::learned(literals, &bytes);
        if let Some(a) = anchors
            .as_ref()
            .filter(|a| a.line_share(sample) <= ANCHOR_SHARE)
        {
            return Scan::Anchors(a.clone());
        }
        if literals.len() <= pair_scan::MAX_LITERALS {
            // Folded as the pair scan compares (`| 0x20`).
            let mut count = [0u64; 256];
            for (b, n) in bytes.iter().enumerate() {
                count[b | 0x20] += n;
            }
            // Worth it while chance pairs send few lines to verification.
            let lines = 1 + memchr::memchr_iter(b'\n', sample).count();
            let line_len = sample.len() as f64 / lines as f64;
            if let Some(pairs) = PairScan::new(literals, &count)
                .filter(|p| p.chance(&count, sample.len() as u64) * line_len <= PAIR_LINE_SHARE)
            {
                return Scan::Pairs(pairs);
            }
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
