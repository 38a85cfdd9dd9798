//! "Did you mean …?": the closest known name to a misspelled one.

/// The candidate nearest to `name` by edit distance, if it is close enough to be a typo
/// (at most 2 edits, and fewer edits than the name has characters).
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = 2.min(name.chars().count().saturating_sub(1));
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
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
    fn closest_picks_a_near_name_only() {
        let keys = ["threshold", "window", "group_by"];
        assert_eq!(closest("treshold", keys), Some("threshold"));
        assert_eq!(closest("windows", keys), Some("window"));
        assert_eq!(closest("colour", keys), None);
        // A one-letter name is not "close" to every other one-letter name.
        assert_eq!(closest("a", ["b"]), None);
    }
}
