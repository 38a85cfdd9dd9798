//! The query language: Lucene/Kibana syntax, parsed once, matched against every event.

use serde::Deserialize;

/// How a query is read: which field bare terms search and how adjacent terms combine.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct QueryOptions {
    #[serde(default = "default_field")]
    pub default_field: String,
    #[serde(default)]
    pub default_operator: DefaultOperator,
}

impl Default for QueryOptions {
    fn default() -> Self {
        QueryOptions {
            default_field: default_field(),
            default_operator: DefaultOperator::default(),
        }
    }
}

fn default_field() -> String {
    crate::event::MESSAGE_FIELD.to_string()
}

/// The operator between adjacent terms with none written (Kibana's default is OR).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "UPPERCASE")]
pub enum DefaultOperator {
    #[default]
    Or,
    And,
}
