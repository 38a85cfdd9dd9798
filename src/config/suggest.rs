//! "Did you mean …?": the closest defined name to a misspelled one.

use super::validate::Problem;

/// `unknown channel `x`; did you mean `y`? (defined: a, b)`, worded for `what`.
pub(crate) fn unknown<'a>(
    what: &'static str,
    name: &str,
    known: impl Iterator<Item = &'a String> + Clone,
) -> Problem {
    let best = known
        .clone()
        .map(|k| (edit_distance(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    let list: Vec<&str> = known.map(String::as_str).collect();
    let hint = match (best, list.is_empty()) {
        (Some((_, k)), _) => format!("; did you mean `{k}`?"),
        (None, true) => format!("; klaxon.yaml defines no {what}s"),
        (None, false) => format!("; klaxon.yaml defines: {}", list.join(", ")),
    };
    Problem::Unknown {
        what,
        name: name.to_string(),
        hint,
    }
}

/// Levenshtein distance over characters.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_single_edits() {
        assert_eq!(edit_distance("dingtalk-ops", "dingtalk-ops"), 0);
        assert_eq!(edit_distance("dingtalk-opz", "dingtalk-ops"), 1);
        assert_eq!(edit_distance("dingtak-ops", "dingtalk-ops"), 1);
        assert_eq!(edit_distance("slack", "email"), 4);
    }

    #[test]
    fn unknown_names_suggest_the_closest_or_list_all() {
        let known = ["dingtalk-ops".to_string(), "slack-dev".to_string()];
        let p = unknown("channel", "dingtalk-opz", known.iter());
        assert_eq!(
            p.to_string(),
            "unknown channel `dingtalk-opz`; did you mean `dingtalk-ops`?"
        );
        let p = unknown("channel", "pager", known.iter());
        assert_eq!(
            p.to_string(),
            "unknown channel `pager`; klaxon.yaml defines: dingtalk-ops, slack-dev"
        );
        let none: [String; 0] = [];
        let p = unknown("source", "x", none.iter());
        assert_eq!(
            p.to_string(),
            "unknown source `x`; klaxon.yaml defines no sources"
        );
    }
}
