//! A rule's state identity: what its stored state was counted under. Two versions of a rule
//! with the same identity share state across restarts and reloads; any other version
//! starts empty. Delivery settings (`notify`, `severity`, `realert`, …) are not part of it.

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Params, ParamsVisitor, RuleConfig};

/// Hex SHA-256 of the canonical JSON of: the type and its `STATE_VERSION`, the source, the
/// query, the `group_by` fields (sorted) and the params with unset keys left out — so a new
/// optional key, unset in every existing rule file, changes no identity.
pub fn state_id(config: &RuleConfig) -> String {
    let mut group_by = config.group_by.clone();
    group_by.sort();
    group_by.dedup();
    let (version, params) = config.params.visit(Canonical);
    let canonical = serde_json::json!({
        "type": config.params.kind().as_str(),
        "state_version": version,
        "source": config.source,
        "query": config.query,
        "group_by": group_by,
        "params": params,
    });
    hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

/// The type's state version and its params, canonical.
struct Canonical;

impl ParamsVisitor for Canonical {
    type Out = (u32, Value);
    fn visit<P: Params>(self, params: &P) -> (u32, Value) {
        (P::STATE_VERSION, canonical_params(params))
    }
}

/// `params` as JSON (objects sort their keys) without the keys that hold "unset": `null`,
/// `false`, `[]` or `{}`.
pub(super) fn canonical_params<P: serde::Serialize>(params: &P) -> Value {
    let mut value = serde_json::to_value(params).expect("rule params serialize");
    strip_unset(&mut value);
    value
}

fn strip_unset(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| {
                strip_unset(v);
                !is_unset(v)
            });
        }
        Value::Array(items) => items.iter_mut().for_each(strip_unset),
        _ => {}
    }
}

fn is_unset(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{FrequencyParams, RuleParams};
    use crate::types::HumanDuration;
    use std::time::Duration;

    fn frequency(threshold: u64) -> RuleConfig {
        let params = FrequencyParams {
            threshold,
            window: HumanDuration(Duration::from_secs(60)),
        };
        RuleConfig::new("r", "app", "ERROR", RuleParams::Frequency(params))
    }

    #[test]
    fn delivery_settings_do_not_change_the_identity_but_counting_does() {
        let base = frequency(3);
        let mut delivery = base.clone();
        delivery.notify = vec!["x".into()];
        delivery.severity = crate::alert::Severity::Critical;
        delivery.realert = HumanDuration(Duration::from_secs(1));
        delivery.max_keys = Some(5);
        delivery.name = "renamed".into();
        assert_eq!(state_id(&base), state_id(&delivery));
        assert_ne!(state_id(&base), state_id(&frequency(4)));
        let mut regrouped = base.clone();
        regrouped.group_by = vec!["sku".into()];
        assert_ne!(state_id(&base), state_id(&regrouped));
        // `group_by` order and repeats do not change which keys exist.
        let mut a = base.clone();
        a.group_by = vec!["b".into(), "a".into()];
        let mut b = base.clone();
        b.group_by = vec!["a".into(), "b".into(), "a".into()];
        assert_eq!(state_id(&a), state_id(&b));
        assert_eq!(state_id(&base).len(), 64);
    }

    /// `FrequencyParams` as a later version might declare it, with a new optional key.
    #[derive(serde::Serialize)]
    struct FrequencyParamsWithNewKey {
        threshold: u64,
        window: HumanDuration,
        new_option: Option<u64>,
        new_flag: bool,
        new_list: Vec<String>,
    }

    #[test]
    fn a_new_optional_key_left_unset_keeps_the_identity() {
        let now = FrequencyParams {
            threshold: 3,
            window: HumanDuration(Duration::from_secs(60)),
        };
        let later = FrequencyParamsWithNewKey {
            threshold: 3,
            window: HumanDuration(Duration::from_secs(60)),
            new_option: None,
            new_flag: false,
            new_list: Vec::new(),
        };
        assert_eq!(canonical_params(&now), canonical_params(&later));
        let set = FrequencyParamsWithNewKey {
            new_option: Some(1),
            ..later
        };
        assert_ne!(canonical_params(&now), canonical_params(&set));
    }
}
