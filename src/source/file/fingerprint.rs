//! File identity that survives renames: a checksum of the file's first line.

use sha2::{Digest, Sha256};

/// The bytes that identify a file: its first line including the `\n`, or its first
/// `max_bytes` bytes when the first line is longer. `None` while the file is shorter than
/// `max_bytes` and has no newline yet: its identity is not settled, so it is not read.
pub(crate) fn identity_bytes(head: &[u8], max_bytes: usize) -> Option<&[u8]> {
    let head = &head[..head.len().min(max_bytes)];
    match memchr::memchr(b'\n', head) {
        Some(nl) => Some(&head[..=nl]),
        None if head.len() == max_bytes => Some(head),
        None => None,
    }
}

/// Hex of the first 128 bits of SHA-256: stable across versions and platforms.
pub(crate) fn checksum(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the head of `file` from its current position (a freshly opened file: the start)
/// into `buf` and returns the fingerprint, if the file has one yet (what `files.rs` does
/// with the head it already read; tests check the identity rule through it).
#[cfg(test)]
pub(crate) fn fingerprint(
    file: &mut std::fs::File,
    max_bytes: usize,
    buf: &mut Vec<u8>,
) -> std::io::Result<Option<String>> {
    use std::io::Read;
    buf.clear();
    file.take(max_bytes as u64).read_to_end(buf)?;
    Ok(identity_bytes(buf, max_bytes).map(checksum))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::Write;

    #[test]
    fn identity_is_the_first_line_or_the_first_bytes() {
        assert_eq!(identity_bytes(b"one\ntwo\n", 256), Some(&b"one\n"[..]));
        assert_eq!(identity_bytes(b"abcdefgh\n", 4), Some(&b"abcd"[..]));
        assert_eq!(identity_bytes(b"partial", 256), None);
        assert_eq!(identity_bytes(b"", 256), None);
    }

    #[test]
    fn fingerprint_is_stable_under_appends_and_differs_by_first_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.log");
        let mut buf = Vec::new();
        let mut f = File::create(&path).unwrap();
        f.write_all(b"first").unwrap();
        assert_eq!(
            fingerprint(&mut File::open(&path).unwrap(), 256, &mut buf).unwrap(),
            None
        );
        f.write_all(b" line\n").unwrap();
        let fp = fingerprint(&mut File::open(&path).unwrap(), 256, &mut buf)
            .unwrap()
            .unwrap();
        assert_eq!(fp.len(), 32);
        f.write_all(b"second line\n").unwrap();
        let again = fingerprint(&mut File::open(&path).unwrap(), 256, &mut buf).unwrap();
        assert_eq!(again.as_deref(), Some(fp.as_str()));
        assert_ne!(checksum(b"first line\n"), checksum(b"other line\n"));
        assert_eq!(checksum(b"first line\n"), fp);
    }
}
