//! Lines the literal scan cannot judge, so every rule sees them: a JSON `\uXXXX` escape may
//! spell any literal character; a control character escaped as `\u0000`–`\u001f` is printed
//! back as `\t`, `\n`, … when an object-valued field is matched as text (so letters appear
//! that the line does not hold); and two non-ASCII characters lowercase to ASCII letters (the
//! Kelvin sign `K` to `k`, `İ` to `i`). Found with `memchr` on their first byte, so literals
//! keep their `i` and `k` and only the rare lines holding such spellings pay.

/// The spellings to look for, decided by the literals.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Triggers {
    /// Any `\u` escape (some literal holds a character an encoder may escape).
    any_escape: bool,
    /// The non-ASCII spellings of `i` and `k`, raw or escaped (some literal holds one).
    folds: bool,
}

/// UTF-8 of the Kelvin sign and of `İ`, and their JSON escapes' hex digits.
const KELVIN: &[u8] = "\u{212A}".as_bytes();
const DOTTED_I: &[u8] = "\u{130}".as_bytes();
const ESCAPED: [&[u8]; 2] = [b"212a", b"0130"];

impl Triggers {
    pub(super) fn new(any_escape: bool, folds: bool) -> Self {
        Triggers { any_escape, folds }
    }

    /// Where the first trigger in `hay` starts.
    pub(super) fn find(&self, hay: &[u8]) -> Option<usize> {
        let mut from = 0;
        loop {
            let i = if self.folds {
                memchr::memchr3(b'\\', KELVIN[0], DOTTED_I[0], &hay[from..])?
            } else {
                memchr::memchr(b'\\', &hay[from..])?
            };
            let at = from + i;
            if self.is_trigger(&hay[at..]) {
                return Some(at);
            }
            from = at + 1;
        }
    }

    fn is_trigger(&self, rest: &[u8]) -> bool {
        if self.folds && (rest.starts_with(KELVIN) || rest.starts_with(DOTTED_I)) {
            return true;
        }
        let Some(hex) = rest.strip_prefix(b"\\u").and_then(|h| h.get(..4)) else {
            return false;
        };
        let control = hex.starts_with(b"00") && matches!(hex[2], b'0' | b'1');
        self.any_escape
            || control
            || (self.folds && ESCAPED.iter().any(|e| hex.eq_ignore_ascii_case(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_non_ascii_spellings_of_i_and_k_raw_or_escaped() {
        let t = Triggers::new(false, true);
        assert_eq!(t.find("ab\u{212A}b".as_bytes()), Some(2));
        assert_eq!(t.find("x İ".as_bytes()), Some(2));
        assert_eq!(t.find(br#"a\"b \u212Ab"#), Some(5));
        assert_eq!(t.find(br#"\u0130"#), Some(0));
        assert_eq!(
            t.find(r#"\u652f \" é"#.as_bytes()),
            None,
            "other escapes pass"
        );
        assert_eq!(Triggers::new(true, true).find(br#"a\u652f"#), Some(1));
        assert_eq!(Triggers::new(true, false).find(br#"a\u652f"#), Some(1));
        assert_eq!(Triggers::default().find("\u{212A}".as_bytes()), None);
        // Escaped control characters always: an object-valued field prints them back as `\t`.
        assert_eq!(
            Triggers::default().find(br#"{"m":{"d":"\u0009imeout"}}"#),
            Some(11)
        );
        assert_eq!(Triggers::default().find(br#"\u001F \u0020"#), Some(0));
        assert_eq!(Triggers::default().find(br#"\u0020 \" \n"#), None);
    }
}
