use serde::Deserialize;

use crate::decode::Format;

/// `type: file`: tail every file matching `include`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to tail.
    pub include: Vec<String>,
    /// How lines are decoded (serde's `flatten` cannot be combined with
    /// `deny_unknown_fields`, so decode options are plain fields here).
    #[serde(default)]
    pub format: Format,
}
