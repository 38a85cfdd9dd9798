//! `metric_aggregation`: min/max/avg/sum/percentiles become a `metric` rule; `value_count`
//! a `frequency` or `flatline` over the events that have the field; `cardinality` a
//! `cardinality` rule.

use serde_json::{Map, Value};

use super::super::duration::timedelta;
use super::super::filter::{self, Refused, Translation};
use super::super::options::Options;
use super::super::registry::Registry;
use super::super::{Note, NoteKind};
use super::{duration, finish, note, refused, strip_keyword, Entries};
use crate::import::yaml_out::Yaml;
use crate::types::HumanDuration;

/// `metric_aggregation`: min/max/avg/sum/percentiles map to a `metric` rule; `value_count`
/// to `frequency`/`flatline` over the events that have the field; `cardinality` to
/// `cardinality`.
#[allow(clippy::too_many_arguments)]
pub(super) fn metric(
    opts: &Options,
    global: &Map<String, Value>,
    mut common: Entries,
    group_by: Vec<String>,
    notes: &mut Vec<Note>,
    file: &str,
    registry: &mut Registry,
    name: &str,
    query: &str,
    translation: Translation,
) -> Result<(String, String, Entries), Refused> {
    let field = strip_keyword(opts.str("metric_agg_key").ok_or_else(|| {
        refused(
            "metric_agg_key",
            "a metric_aggregation rule needs `metric_agg_key`",
        )
    })?);
    let agg = opts.str("metric_agg_type").ok_or_else(|| {
        refused(
            "metric_agg_type",
            "a metric_aggregation rule needs `metric_agg_type`",
        )
    })?;
    let max = opts.get("max_threshold").and_then(Value::as_f64);
    let min = opts.get("min_threshold").and_then(Value::as_f64);
    if max.is_none() && min.is_none() {
        return Err(refused(
            "max_threshold",
            "needs max_threshold or min_threshold",
        ));
    }
    // ElastAlert aggregates over each bucket_interval, else over buffer_time.
    let window = match duration(opts, "bucket_interval")? {
        Some(w) => {
            opts.mark("buffer_time");
            w
        }
        None => match duration(opts, "buffer_time")? {
            Some(w) => w,
            None => match global.get("buffer_time").map(timedelta) {
                Some(Ok(d)) => Yaml::raw(HumanDuration(d).to_string()),
                _ => {
                    notes.push(note(
                        "buffer_time".into(),
                        "ElastAlert aggregated over config.yaml's buffer_time; 45m (its \
                         example config) is assumed — pass --config to carry yours over",
                        NoteKind::NotConverted,
                    ));
                    Yaml::raw("45m")
                }
            },
        },
    };
    let mut typed = Vec::new();
    let kind = match agg {
        "min" | "max" | "avg" | "sum" | "percentiles" => {
            typed.push(("field".into(), Yaml::str(&field)));
            typed.push(("window".into(), window));
            let metric = if agg == "percentiles" {
                let p = opts
                    .get("percentile_range")
                    .and_then(Value::as_f64)
                    .ok_or_else(|| refused("percentile_range", "percentiles need `percentile_range`"))?;
                if p.fract() != 0.0 || !(50.0..=99.0).contains(&p) {
                    return Err(refused(
                        "percentile_range",
                        "Klaxon has the whole percentiles p50 to p99",
                    ));
                }
                format!("p{}", p as u8)
            } else {
                agg.to_string()
            };
            typed.push(("metric".into(), Yaml::raw(metric)));
            if let Some(m) = max {
                typed.push(("above".into(), Yaml::Num(m)));
            }
            if let Some(m) = min {
                typed.push(("below".into(), Yaml::Num(m)));
            }
            "metric"
        }
        "cardinality" => {
            typed.push(("field".into(), Yaml::str(&field)));
            typed.push(("window".into(), window));
            // Strictly above max / below min, as ElastAlert compares.
            if let Some(m) = max {
                typed.push(("max_cardinality".into(), Yaml::Int(whole(m.floor(), "max_threshold")?)));
            }
            if let Some(m) = min {
                typed.push(("min_cardinality".into(), Yaml::Int(whole(m.ceil(), "min_threshold")?)));
            }
            "cardinality"
        }
        "value_count" => {
            if max.is_some() && min.is_some() {
                return Err(refused(
                    "min_threshold",
                    "a count both above a max and below a min is two Klaxon rules (frequency \
                     and flatline); convert with one threshold",
                ));
            }
            // Only events with the field count; a count above max is at least max+1 events.
            let exists = format!("_exists_:{}", filter::field_name(&field));
            let counted = match query {
                "*:*" => exists,
                q => format!("({q}) AND {exists}"),
            };
            if let Some((_, q)) = common.iter_mut().find(|(k, _)| k == "query") {
                *q = Yaml::str(&counted);
            }
            let (kind, threshold) = match (max, min) {
                (Some(m), _) => ("frequency", whole(m.floor() + 1.0, "max_threshold")?),
                (_, Some(m)) => ("flatline", whole(m.ceil(), "min_threshold")?),
                _ => unreachable!("checked above"),
            };
            typed.push(("threshold".into(), Yaml::Int(threshold.max(1))));
            typed.push(("window".into(), window));
            let frame = finish(opts, common, kind, &group_by, typed, notes, registry, file)?;
            registry.rule(name, &counted, translation.hints);
            return Ok((String::new(), name.to_string(), frame));
        }
        other => {
            return Err(refused(
                "metric_agg_type",
                format!("`{other}`: Klaxon aggregates min, max, avg, sum, percentiles, cardinality and value_count"),
            ))
        }
    };
    let frame = finish(opts, common, kind, &group_by, typed, notes, registry, file)?;
    registry.rule(name, query, translation.hints);
    Ok((String::new(), name.to_string(), frame))
}

fn whole(n: f64, key: &str) -> Result<i64, Refused> {
    if n.is_finite() && (0.0..=1e12).contains(&n) {
        Ok(n as i64)
    } else {
        Err(refused(key, "expected a number from 0"))
    }
}
