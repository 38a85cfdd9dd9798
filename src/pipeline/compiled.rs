//! A rule ready to run: its config, its compiled query, its rule type with its state, and
//! the bookkeeping the engine keeps per rule (watermark, late events).

use chrono::{DateTime, Utc};

use crate::config::{Diagnostics, LoadedRule, RuleConfig, RuleKind};
use crate::event::Event;
use crate::query::{self, Query, QueryError, QueryOptions};
use crate::rule::{self, RuleError, RuleType};

/// Shown as the value of a `group_by` field an event does not have.
pub const MISSING_VALUE: &str = "(missing)";

pub struct CompiledRule {
    pub config: RuleConfig,
    pub query: Query,
    pub(super) kind: Box<dyn RuleType>,
    /// Sources whose events the rule sees (two for a `mismatch` across sources).
    sources: Vec<String>,
    /// `group_by` sorted and deduplicated: the order of the canonical key text.
    key_fields: Vec<String>,
    meaning: String,
    /// The rule's source clock minus `allowed_lateness`, as of the last advance.
    pub(super) watermark: Option<DateTime<Utc>>,
    /// Events dropped for arriving behind the watermark (clock-fired rules only).
    pub(super) late: u64,
}

impl CompiledRule {
    /// Compiles the query and builds the rule type. A `values_file` that is relative is
    /// read relative to the working directory; [`compile_loaded`] resolves it against the
    /// rule file first.
    pub fn compile(config: RuleConfig, options: &QueryOptions) -> Result<Self, QueryError> {
        let query = query::parse(&config.query, options)?;
        let kind = rule::build(&config, options).map_err(|e| match e {
            RuleError::Query(q) => q,
            other => QueryError::Syntax {
                query: config.query.clone(),
                column: 1,
                message: other.to_string(),
            },
        })?;
        let mut sources = vec![config.source.clone()];
        if config.kind == RuleKind::Mismatch {
            for side in [&config.left, &config.right].into_iter().flatten() {
                if let Some(s) = &side.source {
                    if !sources.contains(s) {
                        sources.push(s.clone());
                    }
                }
            }
        }
        let mut key_fields = config.group_by.clone();
        key_fields.sort();
        key_fields.dedup();
        Ok(CompiledRule {
            meaning: config.meaning(),
            config,
            query,
            kind,
            sources,
            key_fields,
            watermark: None,
            late: 0,
        })
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// See `RuleConfig::meaning`.
    pub fn meaning(&self) -> &str {
        &self.meaning
    }

    /// Events dropped for arriving later than `allowed_lateness`.
    pub fn late_events(&self) -> u64 {
        self.late
    }

    pub fn stats(&self) -> rule::RuleStats {
        self.kind.stats()
    }

    /// Writes the canonical key text of `event` (what `alert::key_id` gives for
    /// [`group_key`]) into `buf`, reusing its allocation.
    pub(super) fn write_key(&self, event: &Event, buf: &mut Vec<u8>) {
        buf.clear();
        buf.push(b'{');
        for (i, field) in self.key_fields.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let value = event.text(field);
            let value = value.as_deref().unwrap_or(MISSING_VALUE);
            serde_json::to_writer(&mut *buf, field.as_str()).expect("writing to a Vec");
            buf.push(b':');
            serde_json::to_writer(&mut *buf, value).expect("writing to a Vec");
        }
        buf.push(b'}');
    }
}

/// Compiles one loaded rule: paths in it resolved against its file, every problem (query
/// or rule) placed at file:line:column.
pub fn compile_loaded(
    rule: &LoadedRule,
    options: &QueryOptions,
) -> Result<CompiledRule, Diagnostics> {
    let mut config = rule.config.clone();
    config.resolve_paths(&rule.path);
    CompiledRule::compile(config, options)
        .map_err(|e| crate::config::at_query(rule, e.column(), e.message().to_string()).into())
}

/// The event's values of the `group_by` fields.
pub fn group_key(fields: &[String], event: &Event) -> std::collections::BTreeMap<String, String> {
    fields
        .iter()
        .map(|f| {
            let v = event.text(f).map(|v| v.into_owned());
            (f.clone(), v.unwrap_or_else(|| MISSING_VALUE.to_string()))
        })
        .collect()
}
