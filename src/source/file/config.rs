use serde::Deserialize;

use crate::decode::DecodeConfig;

/// `type: file`: tail every file matching `include`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to tail.
    pub include: Vec<String>,
    #[serde(flatten)]
    pub decode: DecodeConfig,
}
