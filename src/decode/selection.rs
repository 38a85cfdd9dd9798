//! Which fields of a structured line the rules read. Decoding only those (the rest of the
//! line is checked as JSON but never becomes values) keeps the cost of a line with a dozen
//! fields close to that of the two or three a rule looks at. The raw line is always kept
//! whole: alerts quote it, and nothing else reads the fields.

/// The top-level keys to keep: a handful, so a list compared length first beats hashing
/// every key of every line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelection {
    keys: Vec<Box<str>>,
}

impl FieldSelection {
    /// What reading each of `paths` needs: a dotted path `a.b` reads the literal key `a.b`
    /// or the object under `a` (see `Event::value`).
    pub fn of<'a>(paths: impl IntoIterator<Item = &'a str>) -> Self {
        let mut keys: Vec<Box<str>> = Vec::new();
        for path in paths {
            keys.push(Box::from(path));
            if let Some((first, _)) = path.split_once('.') {
                keys.push(Box::from(first));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        FieldSelection { keys }
    }

    pub fn keeps(&self, key: &str) -> bool {
        self.keys
            .iter()
            .any(|k| k.len() == key.len() && **k == *key)
    }

    /// The keys kept, sorted (for logs and tests).
    pub fn keys(&self) -> Vec<&str> {
        self.keys.iter().map(|k| &**k).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dotted_path_keeps_its_literal_key_and_its_root() {
        let s = FieldSelection::of(["http.status", "level", "a.b.c"]);
        assert_eq!(s.keys(), ["a", "a.b.c", "http", "http.status", "level"]);
        assert!(!s.keeps("a.b"));
    }
}
