//! What a line must contain for a query to match it: a conjunction of clauses, each a set
//! of literals one of which the line holds (ASCII case aside).
//!
//! A literal is used only if every line a query matches must contain it byte for byte (ASCII
//! case aside), however the line spells it:
//! - characters JSON writes with a short escape (`"`, `\`, `/`, controls) split a literal,
//!   and so does U+FFFD, which a line read lossily has in place of any invalid byte;
//! - non-ASCII characters another character lowercases to split a literal (`é`, from `É`);
//!   the two non-ASCII characters that lowercase to ASCII letters (the Kelvin sign to `k`,
//!   `İ` to `i`) are handled by the scan instead (see `triggers`), so `i` and `k` stay;
//! - a piece made only of `0-9 . e E + -` is dropped: a JSON number is matched as the text
//!   serde_json prints (`5e2` is `500.0`), which need not appear in the line.

use std::collections::HashSet;
use std::sync::OnceLock;

use super::super::matcher::Node;

/// Literals one of which a matching line contains.
pub(super) type Clause = Vec<String>;

/// Most clauses kept per query: the most selective ones (more only cost checks).
const MAX_CLAUSES: usize = 8;

/// Largest cross product expanded when an `OR` joins several clauses per side.
const MAX_PRODUCT: usize = 8;

/// The clauses every line matching `node` satisfies; empty when nothing is required.
pub(super) fn clauses(node: &Node) -> Vec<Clause> {
    let mut out = cnf(node);
    for clause in &mut out {
        clause.sort();
        clause.dedup();
    }
    out.sort();
    out.dedup();
    // A clause containing another is implied by it.
    let all = out.clone();
    out.retain(|c| {
        !all.iter()
            .any(|d| d != c && d.iter().all(|l| c.contains(l)))
    });
    out.sort_by_key(|c| std::cmp::Reverse(clause_score(c)));
    out.truncate(MAX_CLAUSES);
    out
}

/// How selective a clause is: as good as its weakest literal, and fewer alternatives are
/// better.
pub(super) fn clause_score(clause: &Clause) -> (u32, usize) {
    (
        clause.iter().map(|l| selectivity(l)).min().unwrap_or(0),
        usize::MAX - clause.len(),
    )
}

fn cnf(node: &Node) -> Vec<Clause> {
    match node {
        // Every word of a phrase is a token of the text, so each of its pieces must appear.
        Node::Words(w) => w
            .words()
            .iter()
            .flat_map(|word| pieces(word))
            .map(|l| vec![l])
            .collect(),
        Node::AnyWord { words, .. } => words
            .iter()
            .map(|w| best_piece(w))
            .collect::<Option<Vec<_>>>()
            .filter(|c| !c.is_empty())
            .map(|c| vec![c])
            .unwrap_or_default(),
        Node::Leaf { literal, .. } => literal
            .as_deref()
            .map(|l| pieces(l).into_iter().map(|p| vec![p]).collect())
            .unwrap_or_default(),
        Node::Not(_) => Vec::new(),
        Node::All(items) => items.iter().flat_map(cnf).collect(),
        Node::Any(items) => {
            let mut sides = Vec::with_capacity(items.len());
            for item in items.iter() {
                let side = cnf(item);
                if side.is_empty() {
                    // One alternative needs nothing: neither does the whole.
                    return Vec::new();
                }
                sides.push(side);
            }
            let product = sides
                .iter()
                .try_fold(1usize, |n, s| n.checked_mul(s.len()))
                .unwrap_or(usize::MAX);
            if product <= MAX_PRODUCT {
                // (a ∧ b) ∨ c = (a ∨ c) ∧ (b ∨ c)
                sides.iter().fold(vec![Vec::new()], |acc, side| {
                    acc.iter()
                        .flat_map(|partial| {
                            side.iter().map(move |clause| {
                                let mut c: Clause = partial.clone();
                                c.extend(clause.iter().cloned());
                                c
                            })
                        })
                        .collect()
                })
            } else {
                // Too many: each side's most selective clause, joined.
                let joined: Clause = sides
                    .iter()
                    .filter_map(|s| s.iter().max_by_key(|c| clause_score(c)))
                    .flatten()
                    .cloned()
                    .collect();
                vec![joined]
            }
        }
    }
}

/// The most selective piece of `text` (see [`pieces`]).
fn best_piece(text: &str) -> Option<String> {
    pieces(text).into_iter().next()
}

/// The pieces of `text` every spelling of it in a line contains (see the module docs), most
/// selective first; short pieces are kept only when there is no longer one.
pub(super) fn pieces(text: &str) -> Vec<String> {
    // The set holds only non-ASCII characters: ASCII text never needs it built.
    let unstable = |c: char| !c.is_ascii() && unstable_chars().contains(&c);
    let mut out: Vec<String> = text
        // U+FFFD also stands for any invalid UTF-8 byte of a line (read lossily).
        .split(|c: char| {
            matches!(c, '"' | '\\' | '/' | '\u{FFFD}') || c.is_control() || unstable(c)
        })
        .filter(|p| {
            !p.is_empty()
                && !p
                    .bytes()
                    .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        })
        .map(|p| p.to_ascii_lowercase())
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(selectivity(p)));
    out.dedup();
    if out.iter().any(|p| p.len() >= 3) {
        out.retain(|p| p.len() >= 3);
    } else {
        out.truncate(1);
    }
    out
}

/// Characters some other character lowercases to (so a line may spell them differently),
/// other than ASCII letters: the automaton matches ASCII case-insensitively, and the two
/// non-ASCII spellings of ASCII letters are scanned for apart.
pub(super) fn unstable_chars() -> &'static HashSet<char> {
    static SET: OnceLock<HashSet<char>> = OnceLock::new();
    SET.get_or_init(|| {
        all_chars()
            .flat_map(|c| c.to_lowercase().filter(move |l| *l != c && !l.is_ascii()))
            .collect()
    })
}

/// The ASCII letters a non-ASCII character lowercases to (`i` from `İ`, `k` from the Kelvin
/// sign): literals holding them need those spellings looked for (a test checks the list
/// against Unicode's case mappings).
pub(super) fn folded_ascii() -> &'static [char] {
    &['i', 'k']
}

/// Every character with a case mapping (none lies past U+1FFFF; a test checks).
fn all_chars() -> impl Iterator<Item = char> {
    (0..CASED_END).filter_map(char::from_u32)
}

const CASED_END: u32 = 0x2_0000;

/// How rarely lines hold `literal`: longer and made of rarer bytes is better.
pub(super) fn selectivity(literal: &str) -> u32 {
    literal.bytes().map(|b| 256 - u32::from(log_rank(b))).sum()
}

/// How common a byte is in log lines (higher is more common): timestamps make digits and
/// `-:.` common, JSON makes `"` `,` `:` common; `_` and rare letters are good anchors.
pub(super) fn log_rank(b: u8) -> u8 {
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

#[cfg(test)]
mod tests {
    #[test]
    fn exactly_i_and_k_have_non_ascii_spellings() {
        let mut v: Vec<char> = super::all_chars()
            .filter(|c| !c.is_ascii())
            .flat_map(|c| c.to_lowercase().filter(char::is_ascii))
            .collect();
        v.sort();
        v.dedup();
        assert_eq!(v, super::folded_ascii());
    }

    #[test]
    fn no_character_past_the_scanned_range_changes_case() {
        let changes = (super::CASED_END..=char::MAX as u32)
            .filter_map(char::from_u32)
            .find(|&c| c.to_lowercase().ne(std::iter::once(c)));
        assert_eq!(changes, None);
    }
}
