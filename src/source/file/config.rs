use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use crate::decode::{DecodeOptions, LineFormat, TimeFormat, TimeLimits, TimeZone};
use crate::source::multiline::MultilineConfig;
use crate::types::HumanDuration;

/// `type: file`: tail every file matching `include`.
#[derive(Debug, Clone, Deserialize, PartialEq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to tail.
    pub include: Vec<String>,
    /// Glob patterns of paths to skip, matched against the whole path (`*` also crosses
    /// `/`, so `*.gz` excludes every gzip file).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in a file that has no checkpoint when Klaxon starts. Files that
    /// appear later are always read from the beginning: all of their lines are new.
    #[serde(default)]
    pub read_from: ReadFrom,
    /// How often to rescan the globs and read new lines.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: HumanDuration,
    /// Longer lines are cut to this many bytes (and counted).
    #[serde(default = "default_max_line_bytes")]
    pub max_line_bytes: usize,
    /// Read files that are symbolic links (default: skip them, logged once: a link to
    /// `/etc/shadow` dropped into a log directory is not read).
    #[serde(default)]
    pub follow_symlinks: bool,
    /// How a file is recognised after a rename: `checksum` (default) or `device_inode`.
    #[serde(default)]
    pub fingerprint: FingerprintStrategy,
    /// A file's identity is a checksum of its first line, or of this many bytes if the
    /// first line is longer. Files shorter than that with no newline yet wait.
    #[serde(default = "default_fingerprint_bytes")]
    pub fingerprint_bytes: usize,
    /// How lines are decoded: `plain` (default: the whole line is the `message`), `json`,
    /// `logfmt` or `regex` (the named groups of `pattern`).
    // serde's `flatten` cannot be combined with `deny_unknown_fields`, so decode options
    // are plain fields here.
    #[serde(default)]
    pub format: LineFormat,
    /// For `format: regex`: a regex with named groups or a preset (`nginx_combined`).
    #[serde(default)]
    pub pattern: Option<String>,
    /// The field holding the event's time (default: the time the line was read).
    #[serde(default)]
    pub time_field: Option<String>,
    #[serde(default)]
    pub time_format: Option<TimeFormat>,
    /// Zone of timestamps written without an offset (default: local).
    #[serde(default)]
    pub timezone: TimeZone,
    /// Joins continuation lines (stack traces) into one event.
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    /// A line's time older than this when read is not believed: arrival time is used
    /// (default 3650d).
    #[serde(default = "default_max_event_age")]
    pub max_event_age: HumanDuration,
    /// A line's time further ahead than this when read is not believed (default 1d).
    #[serde(default = "default_max_clock_skew")]
    pub max_clock_skew: HumanDuration,
    /// Alerts about events older than this when raised do not page (default 15m): on a
    /// first start or after a downtime, history builds rule state but is not news.
    #[serde(default = "default_max_alert_age")]
    pub max_alert_age: HumanDuration,
    /// Kibana's data view for this source's alert links (else the global `kibana.data_view`).
    #[serde(default)]
    pub kibana: Option<crate::source::SourceKibana>,
}

pub(crate) fn default_max_alert_age() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(15 * 60))
}

pub(crate) fn default_max_event_age() -> HumanDuration {
    HumanDuration(TimeLimits::DEFAULT.max_event_age)
}

pub(crate) fn default_max_clock_skew() -> HumanDuration {
    HumanDuration(TimeLimits::DEFAULT.max_clock_skew)
}

/// How files are identified across renames.
#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FingerprintStrategy {
    /// A checksum of the first line (or first `fingerprint_bytes`): survives copies to
    /// other filesystems, but files with identical first lines look alike.
    #[default]
    Checksum,
    /// Device and inode numbers: tells identical-looking files apart and needs no first
    /// line, but an inode number freed by a deleted file may be reused by a new one.
    DeviceInode,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadFrom {
    #[default]
    Beginning,
    End,
}

fn default_poll_interval() -> HumanDuration {
    HumanDuration(Duration::from_millis(250))
}

fn default_max_line_bytes() -> usize {
    1024 * 1024
}

fn default_fingerprint_bytes() -> usize {
    256
}

impl FileSourceConfig {
    /// A config with defaults for everything but `include`.
    pub fn new(include: Vec<String>) -> Self {
        FileSourceConfig {
            include,
            exclude: Vec::new(),
            read_from: ReadFrom::default(),
            follow_symlinks: false,
            poll_interval: default_poll_interval(),
            max_line_bytes: default_max_line_bytes(),
            fingerprint: FingerprintStrategy::default(),
            fingerprint_bytes: default_fingerprint_bytes(),
            format: LineFormat::default(),
            pattern: None,
            time_field: None,
            time_format: None,
            timezone: TimeZone::default(),
            multiline: None,
            max_event_age: default_max_event_age(),
            max_clock_skew: default_max_clock_skew(),
            max_alert_age: default_max_alert_age(),
            kibana: None,
        }
    }

    pub fn decode_options(&self) -> DecodeOptions {
        DecodeOptions {
            format: self.format,
            pattern: self.pattern.clone(),
            time_field: self.time_field.clone(),
            time_format: self.time_format.clone(),
            timezone: self.timezone,
            limits: TimeLimits {
                max_event_age: self.max_event_age.0,
                max_clock_skew: self.max_clock_skew.0,
            },
        }
    }

    /// Pure checks (no filesystem access); the message names the offending option.
    pub fn validate(&self) -> Result<(), String> {
        if self.include.is_empty() {
            return Err("`include` needs at least one glob pattern".into());
        }
        for pattern in self.include.iter().chain(&self.exclude) {
            glob::Pattern::new(pattern)
                .map_err(|e| format!("invalid glob pattern `{pattern}`: {e}"))?;
        }
        if self.max_line_bytes == 0 {
            return Err("`max_line_bytes` must be at least 1".into());
        }
        if self.fingerprint_bytes == 0 {
            return Err("`fingerprint_bytes` must be at least 1".into());
        }
        if self.poll_interval.0.is_zero() {
            return Err("`poll_interval` must be greater than 0".into());
        }
        crate::decode::Decoder::with_options(&self.decode_options()).map_err(|e| e.to_string())?;
        if let Some(multiline) = &self.multiline {
            multiline.validate()?;
        }
        Ok(())
    }

    /// Makes relative `include`/`exclude` patterns relative to `base` (the directory of
    /// the config file), so the source does not depend on the working directory.
    pub fn resolve_relative_to(&mut self, base: &Path) {
        for pattern in self.include.iter_mut().chain(self.exclude.iter_mut()) {
            if Path::new(pattern.as_str()).is_relative() {
                *pattern = base.join(pattern.as_str()).to_string_lossy().into_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_all_options_deserialize() {
        let cfg: FileSourceConfig = serde_saphyr::from_str("include: [/var/log/*.log]\n").unwrap();
        assert_eq!(cfg, FileSourceConfig::new(vec!["/var/log/*.log".into()]));
        let yaml = "include: [a.log]\nexclude: ['*.gz']\nread_from: end\npoll_interval: 1s\n\
                    max_line_bytes: 100\nfingerprint_bytes: 64\nformat: json\n\
                    time_field: ts\ntime_format: epoch_ms\n";
        let cfg: FileSourceConfig = serde_saphyr::from_str(yaml).unwrap();
        assert_eq!(cfg.read_from, ReadFrom::End);
        assert_eq!(cfg.poll_interval.0, Duration::from_secs(1));
        assert_eq!(cfg.time_format, Some(TimeFormat::EpochMillis));
        assert_eq!((cfg.max_line_bytes, cfg.fingerprint_bytes), (100, 64));
        cfg.validate().unwrap();
    }

    #[test]
    fn unknown_fields_and_bad_values_are_rejected() {
        let err = serde_saphyr::from_str::<FileSourceConfig>("include: [a]\npath: b\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `path`"), "{err}");
        let mut cfg = FileSourceConfig::new(vec![]);
        assert!(cfg.validate().unwrap_err().contains("include"));
        cfg.include = vec!["a[".into()];
        assert!(cfg.validate().unwrap_err().contains("invalid glob"));
        cfg.include = vec!["a.log".into()];
        cfg.time_field = Some("ts".into());
        assert!(cfg
            .validate()
            .unwrap_err()
            .contains("needs a format with fields"));
    }

    #[test]
    fn relative_patterns_resolve_against_the_config_dir() {
        let mut cfg = FileSourceConfig::new(vec!["logs/*.log".into(), "/abs/*.log".into()]);
        cfg.exclude = vec!["logs/old*".into()];
        cfg.resolve_relative_to(Path::new("/etc/klaxon"));
        assert_eq!(cfg.include, ["/etc/klaxon/logs/*.log", "/abs/*.log"]);
        assert_eq!(cfg.exclude, ["/etc/klaxon/logs/old*"]);
    }
}
