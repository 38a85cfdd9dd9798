//! Unknown names in a rule file that should refer to something in klaxon.yaml.

use super::problem::Problem;
use crate::types::closest;

/// `unknown channel `x`; did you mean `y`? (defined: a, b)`, worded for `what`.
pub(crate) fn unknown<'a>(
    what: &'static str,
    name: &str,
    known: impl Iterator<Item = &'a String> + Clone,
) -> Problem {
    let best = closest(name, known.clone().map(String::as_str));
    let list: Vec<&str> = known.map(String::as_str).collect();
    let hint = match (best, list.is_empty()) {
        (Some(k), _) => format!("; did you mean `{k}`?"),
        (None, true) => format!("; klaxon.yaml defines no {what}s"),
        (None, false) => format!("; klaxon.yaml defines: {}", list.join(", ")),
    };
    Problem::Unknown {
        what,
        name: name.to_string(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
