//! Problems of klaxon.yaml and of how rule files relate to it, worded once. (A rule's own
//! problems are found where the rule is built: `rule::Rule::build`.)

/// Every problem the loader itself finds.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Problem {
    #[error("rule file is empty; a rule needs at least `name`, `source`, `query` and `notify`")]
    EmptyRuleFile,
    #[error("unknown {what} `{name}`{hint}")]
    Unknown {
        what: &'static str,
        name: String,
        hint: String,
    },
    #[error("rule name `{name}` is already used by {other}; rule names must be unique")]
    DuplicateName { name: String, other: String },
    #[error("{0}")]
    Rules(String),
    #[error("no rules found in `{0}`")]
    NoRules(String),
}
