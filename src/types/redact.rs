//! Error text that may carry what a server echoed back: secrets replaced, causes joined.
//! Shared by every stage that talks HTTP or SMTP (channels, polled sources).

/// Replaces every occurrence of a secret with `***`: the last line of defence for text
/// a server echoes back. Very short secrets are skipped so messages stay readable.
pub fn redact<S: AsRef<str>>(text: &str, secrets: &[S]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().map(AsRef::as_ref).filter(|s| s.len() >= 4) {
        out = out.replace(s, "***");
    }
    out
}

/// An error with its causes, each said once:
/// `error sending request: tcp connect error: Connection refused`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
