//! Reading a whole file at once, for `klaxon test --input FILE`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::fingerprint::{checksum, fingerprint};
use super::tailer::Tailer;
use super::FileSourceConfig;
use crate::decode::{DecodeConfig, Decoder};
use crate::event::{Event, Origin};
use crate::source::SourceError;

/// Decodes every line of `path`. Unlike tailing, a last line without `\n` is included:
/// the file is taken as complete. Events without a time of their own get the file's
/// modification time.
pub fn read_file_events(
    path: &Path,
    source_name: &str,
    decode: &DecodeConfig,
) -> Result<Vec<Event>, SourceError> {
    let decoder = Decoder::new(decode).map_err(|e| SourceError::Config {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })?;
    let io = |e| SourceError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let defaults = FileSourceConfig::new(Vec::new());
    let mut file = File::open(path).map_err(io)?;
    let arrival = file
        .metadata()
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .unwrap_or_else(|_| Utc::now());
    let mut head = Vec::new();
    // A file too short for a fingerprint is identified by all of its bytes.
    let fp = fingerprint(&mut file, defaults.fingerprint_bytes, &mut head)
        .map_err(io)?
        .unwrap_or_else(|| checksum(&head));
    let (source, path_text, fp): (Arc<str>, Arc<str>, Arc<str>) = (
        Arc::from(source_name),
        Arc::from(path.to_string_lossy().as_ref()),
        Arc::from(fp),
    );
    let mut tailer = Tailer::new(file, 0, defaults.max_line_bytes).map_err(io)?;
    let mut events = Vec::new();
    let mut push = |bytes: &[u8], offset: u64| {
        let origin = Origin {
            source: Arc::clone(&source),
            path: Arc::clone(&path_text),
            fingerprint: Arc::clone(&fp),
            offset,
        };
        let raw = String::from_utf8_lossy(bytes).into_owned();
        events.push(decoder.decode(raw, origin, arrival));
    };
    tailer
        .read_lines(usize::MAX, |line| push(line.bytes, line.end_offset))
        .map_err(io)?;
    if let Some(line) = tailer.take_partial() {
        push(line.bytes, line.end_offset);
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Format;

    #[test]
    fn reads_every_line_including_an_unterminated_last_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.log");
        std::fs::write(
            &path,
            "{\"level\":\"error\"}\r\nnot json\n{\"level\":\"info\"}",
        )
        .unwrap();
        let decode = DecodeConfig {
            format: Format::Json,
            ..DecodeConfig::default()
        };
        let events = read_file_events(&path, "app", &decode).unwrap();
        let levels: Vec<_> = events
            .iter()
            .map(|e| e.text("level").map(|t| t.into_owned()))
            .collect();
        assert_eq!(levels, [Some("error".into()), None, Some("info".into())]);
        assert_eq!(events[1].raw, "not json");
        let offsets: Vec<_> = events.iter().map(|e| e.origin.offset).collect();
        assert_eq!(offsets, [19, 28, 44]);
        assert_eq!(&*events[0].origin.source, "app");
        let missing = read_file_events(&dir.path().join("nope"), "app", &decode);
        assert!(matches!(missing, Err(SourceError::Io { .. })));
    }
}
