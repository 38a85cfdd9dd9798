//! logfmt (`level=error msg="order failed" sku=A-1 took=35ms`), as written by Go services
//! (go-kit/log, logrus's text formatter, slog's TextHandler, Heroku).

use serde_json::{Map, Value};

/// The fields of one logfmt line, or `None` when it holds no `key=value` pair at all.
/// Values stay strings (a number's text is what a query compares either way); a bare key
/// is `true`; quoted values understand `\"`, `\\`, `\n`, `\t`, `\r` and `\uXXXX`. A later
/// duplicate key wins. Malformed parts are skipped rather than failing the line.
pub(crate) fn parse(line: &str) -> Option<Map<String, Value>> {
    let mut fields = Map::new();
    let mut saw_pair = false;
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Skip separators.
        while i < bytes.len() && is_space(bytes[i]) {
            i += 1;
        }
        let key_start = i;
        while i < bytes.len() && !is_space(bytes[i]) && bytes[i] != b'=' && bytes[i] != b'"' {
            i += 1;
        }
        let key = &line[key_start..i];
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            let value = if i < bytes.len() && bytes[i] == b'"' {
                let (value, next) = quoted(line, i + 1);
                i = next;
                value
            } else {
                let value_start = i;
                while i < bytes.len() && !is_space(bytes[i]) {
                    i += 1;
                }
                line[value_start..i].to_string()
            };
            if !key.is_empty() {
                saw_pair = true;
                fields.insert(key.to_string(), Value::String(value));
            }
        } else if !key.is_empty() {
            fields.insert(key.to_string(), Value::Bool(true));
        } else if i < bytes.len() {
            // A stray quote or `=`: skip past the garbage token.
            while i < bytes.len() && !is_space(bytes[i]) {
                i += 1;
            }
        }
    }
    saw_pair.then_some(fields)
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// The unescaped text of a quoted value starting at `from` (just past the opening
/// quote), and the index just past the closing quote (or the end of an unclosed one).
fn quoted(line: &str, from: usize) -> (String, usize) {
    let mut out = String::new();
    let mut chars = line[from..].char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '"' => return (out, from + at + 1),
            '\\' => match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((_, 'r')) => out.push('\r'),
                Some((_, 'u')) => {
                    let hex: String = chars.by_ref().take(4).map(|(_, c)| c).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(c) => out.push(c),
                        None => {
                            out.push_str("\\u");
                            out.push_str(&hex);
                        }
                    }
                }
                Some((_, other)) => out.push(other),
                None => out.push('\\'),
            },
            c => out.push(c),
        }
    }
    (out, line.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_service_lines() {
        // As written by go-kit/log and slog's TextHandler.
        let line = r#"time=2026-06-08T11:00:00.123+08:00 level=ERROR msg="payment callback timed out" order_id=9f1c sku=A-1 took=35.2ms err="rpc error: code = DeadlineExceeded desc = \"context deadline exceeded\"""#;
        let fields = Value::Object(parse(line).unwrap());
        assert_eq!(fields["level"], "ERROR");
        assert_eq!(fields["msg"], "payment callback timed out");
        assert_eq!(fields["took"], "35.2ms");
        assert_eq!(
            fields["err"],
            "rpc error: code = DeadlineExceeded desc = \"context deadline exceeded\""
        );
        assert_eq!(fields["time"], "2026-06-08T11:00:00.123+08:00");
    }

    #[test]
    fn bare_keys_empty_values_escapes_and_duplicates() {
        let fields =
            Value::Object(parse(r#"a=1 debug b= c="x\ny\u00e9" a=2 "stray d=\t"#).unwrap());
        assert_eq!(
            fields,
            json!({"a": "2", "debug": true, "b": "", "c": "x\nyé", "d": "\\t"})
        );
        assert_eq!(
            parse(r#"msg="unterminated"#).unwrap()["msg"],
            json!("unterminated")
        );
    }

    #[test]
    fn lines_without_pairs_are_not_logfmt() {
        assert!(parse("just some text").is_none());
        assert!(parse("").is_none());
        assert!(parse("=oops").is_none());
    }
}
