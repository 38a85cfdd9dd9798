//! Where reading of a file resumes, as the store keeps it.

/// Where reading of one file resumes: just past the last fully handled line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub source: String,
    pub fingerprint: String,
    /// Last path the file was seen at (informational; identity is the fingerprint).
    pub path: String,
    pub offset: u64,
}
