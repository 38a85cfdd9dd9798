//! Where an alert goes: its rule's own `notify` channels, then the routes of klaxon.yaml
//! whose matchers its labels satisfy (in order; the first match ends the search unless it
//! says `continue: true`). Each destination carries the grouping it is sent with.

use chrono::Duration;

use super::config::{GroupingConfig, RouteConfig};
use super::matcher::{Labels, Matchers};

/// Grouping as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grouping {
    pub group_by: Vec<String>,
    pub wait: Duration,
    pub interval: Duration,
    pub repeat: Duration,
}

impl Grouping {
    pub fn of(config: &GroupingConfig) -> Self {
        Grouping {
            group_by: config.group_by.clone(),
            wait: config.group_wait.as_chrono(),
            interval: config.group_interval.as_chrono(),
            repeat: config.repeat_interval.as_chrono(),
        }
    }

    /// The group an alert with `labels` falls in on route `route`: `route|rule=x|sku=A-1`.
    pub fn key(&self, route: &str, labels: &Labels) -> String {
        let mut key = route.to_string();
        for name in &self.group_by {
            key.push('|');
            key.push_str(name);
            key.push('=');
            key.push_str(labels.get(name).map_or("", String::as_str));
        }
        key
    }
}

#[derive(Debug, Clone)]
struct Route {
    id: String,
    matchers: Matchers,
    channels: Vec<String>,
    grouping: Grouping,
    escalation: Option<String>,
    continue_matching: bool,
}

/// Where one alert goes on one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// `rule` for the rule's own channels, `route.N` for the Nth route of klaxon.yaml.
    pub route: String,
    pub channels: Vec<String>,
    pub grouping: Grouping,
}

/// The routes as they run.
#[derive(Debug, Clone)]
pub struct Router {
    base: Grouping,
    routes: Vec<Route>,
}

impl Router {
    pub fn new(base: &GroupingConfig, routes: &[RouteConfig]) -> Self {
        Router {
            base: Grouping::of(base),
            routes: routes
                .iter()
                .enumerate()
                .map(|(i, r)| Route {
                    id: format!("route.{i}"),
                    matchers: r.matchers.clone(),
                    channels: r.notify.clone(),
                    grouping: Grouping::of(&r.grouping(base)),
                    escalation: r.escalation.clone(),
                    continue_matching: r.continue_matching,
                })
                .collect(),
        }
    }

    /// Destinations for an alert with `labels` whose rule notifies `rule_channels`; a
    /// channel is reached once, by the first destination that names it. Also the
    /// escalation policy of the first matching route that has one.
    pub fn route(
        &self,
        labels: &Labels,
        rule_channels: &[String],
    ) -> (Vec<Destination>, Option<String>) {
        let mut out = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut take = |channels: &[String]| -> Vec<String> {
            let fresh: Vec<String> = channels
                .iter()
                .filter(|c| !seen.contains(c))
                .cloned()
                .collect();
            seen.extend(fresh.iter().cloned());
            fresh
        };
        let own = take(rule_channels);
        if !own.is_empty() {
            out.push(Destination {
                route: "rule".into(),
                channels: own,
                grouping: self.base.clone(),
            });
        }
        let mut escalation = None;
        for route in &self.routes {
            if !route.matchers.matches(labels) {
                continue;
            }
            if escalation.is_none() {
                escalation.clone_from(&route.escalation);
            }
            let channels = take(&route.channels);
            if !channels.is_empty() {
                out.push(Destination {
                    route: route.id.clone(),
                    channels,
                    grouping: route.grouping.clone(),
                });
            }
            if !route.continue_matching {
                break;
            }
        }
        (out, escalation)
    }

    /// The grouping of route `id` (`rule` or `route.N`), if it still exists.
    pub fn grouping(&self, id: &str) -> Option<&Grouping> {
        if id == "rule" {
            return Some(&self.base);
        }
        self.routes.iter().find(|r| r.id == id).map(|r| &r.grouping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::matcher::Matcher;

    fn route(matchers: &[&str], notify: &[&str], cont: bool) -> RouteConfig {
        RouteConfig {
            matchers: Matchers(
                matchers
                    .iter()
                    .map(|m| Matcher::parse(m).unwrap())
                    .collect(),
            ),
            notify: notify.iter().map(|s| s.to_string()).collect(),
            continue_matching: cont,
            group_by: None,
            group_wait: None,
            group_interval: None,
            repeat_interval: Some(crate::types::HumanDuration(std::time::Duration::from_secs(
                60,
            ))),
            escalation: Some("oncall".into()),
        }
    }

    fn labels(sev: &str) -> Labels {
        [("rule", "r"), ("severity", sev)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rule_channels_then_routes_in_order_each_channel_once() {
        let router = Router::new(
            &GroupingConfig::default(),
            &[
                route(&["severity = critical"], &["oncall", "ops"], true),
                route(&["rule = r"], &["email"], false),
                route(&[], &["never"], false),
            ],
        );
        let (dest, esc) = router.route(&labels("critical"), &["ops".to_string()]);
        let got: Vec<(&str, Vec<String>)> = dest
            .iter()
            .map(|d| (d.route.as_str(), d.channels.clone()))
            .collect();
        assert_eq!(
            got,
            [
                ("rule", vec!["ops".to_string()]),
                ("route.0", vec!["oncall".to_string()]),
                ("route.1", vec!["email".to_string()]),
            ]
        );
        assert_eq!(esc.as_deref(), Some("oncall"));
        assert_eq!(dest[1].grouping.repeat, Duration::seconds(60));
        // Not critical: the second route matches and stops the search.
        let (dest, _) = router.route(&labels("warning"), &[]);
        assert_eq!(dest.len(), 1);
        assert_eq!(dest[0].channels, ["email"]);
    }

    #[test]
    fn group_keys_name_the_route_and_the_values() {
        let g = Grouping::of(&GroupingConfig {
            group_by: vec!["rule".into(), "sku".into()],
            ..GroupingConfig::default()
        });
        assert_eq!(g.key("rule", &labels("critical")), "rule|rule=r|sku=");
    }
}
