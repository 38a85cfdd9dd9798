//! The operations files hold together: the Grafana dashboards and Prometheus alerts query
//! only series Klaxon exports, docker-compose.yml names files, services, volumes and ports
//! that exist, deploy/compose/klaxon.yaml loads with the shipped rules, and the systemd unit
//! keeps its sandbox. Docker is not available where the tests run, so the compose stack is
//! checked here by structure; nothing is started and nothing touches the network.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(rel: &str) -> Value {
    serde_saphyr::from_str::<Value>(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn str_of<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: expected a string, got {v}"))
}

const DASHBOARDS: [&str; 2] = [
    "dashboards/grafana/klaxon.json",
    "dashboards/grafana/order-lifecycle.json",
];
const ALERT_RULES: &str = "dashboards/prometheus/klaxon-alerts.yml";
const PROMETHEUS: &str = "dashboards/prometheus/prometheus.yml";
const COMPOSE: &str = "docker-compose.yml";
const KLAXON_CONFIG: &str = "deploy/compose/klaxon.yaml";

// ---- metrics ----------------------------------------------------------------------------

/// The sample names Klaxon's `/metrics` can show, from the OpenMetrics text: each family's
/// `# TYPE` line (a counter's samples end in `_total`, an info's in `_info`, ...) plus every
/// sample line. A family without series is not shown at all, so one of each is made.
fn exported_series() -> BTreeSet<String> {
    let metrics = klaxon::telemetry::Metrics::new();
    let _source = metrics.source("order-logs");
    let _polled = metrics.polled_source("rabbit");
    let _rule = metrics.rule("order-errors");
    let _channel = metrics.channel("ops-chat");
    metrics.set_alerts([(("order-errors".to_string(), "firing"), 1)]);
    metrics.reload(true);
    metrics.set_warnings([("no_files", 0)]);
    metrics.set_started(1.0);
    let text = metrics.encode();
    let mut names = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (Some(name), Some(kind)) = (parts.next(), parts.next()) else {
                panic!("odd TYPE line: {line}");
            };
            let suffixes: &[&str] = match kind {
                "counter" => &["_total"],
                "info" => &["_info"],
                "histogram" | "gaugehistogram" => &["_bucket", "_count", "_sum"],
                "summary" => &["", "_count", "_sum"],
                _ => &[""],
            };
            for suffix in suffixes {
                names.insert(format!("{name}{suffix}"));
            }
        } else if !line.starts_with('#') && !line.trim().is_empty() {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            names.insert(line[..end].to_string());
        }
    }
    assert!(
        names.len() > 10,
        "too few series found; is this OpenMetrics text?\n{text}"
    );
    names
}

/// Every `klaxon_*` identifier in a PromQL expression.
fn klaxon_identifiers(expr: &str) -> Vec<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("klaxon_") {
        let before = rest[..at].chars().next_back();
        let tail = &rest[at..];
        let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
        if !before.is_some_and(ident) {
            found.push(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    found
}

/// Every PromQL string in a dashboard: targets' `expr`, and template variables' queries.
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                    _ => dashboard_queries(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| dashboard_queries(i, out)),
        _ => {}
    }
}

/// Every alerting rule of a Prometheus rule file: `(alert name, expr)`.
fn alert_rules() -> Vec<(String, String)> {
    let file = yaml(ALERT_RULES);
    let groups = file["groups"].as_array().expect("`groups:` is a list");
    let mut rules = Vec::new();
    for group in groups {
        for rule in group["rules"].as_array().expect("a group's `rules:` list") {
            let name = str_of(&rule["alert"], "a rule's `alert`").to_string();
            let expr = str_of(&rule["expr"], &format!("{name}'s expr")).to_string();
            rules.push((name, expr));
        }
    }
    rules
}

#[test]
fn dashboards_and_alerts_query_only_exported_series() {
    let exported = exported_series();
    let mut queries: Vec<(String, String)> = Vec::new();
    for rel in DASHBOARDS {
        let mut found = Vec::new();
        dashboard_queries(&json(rel), &mut found);
        assert!(found.len() > 5, "{rel}: few queries found");
        queries.extend(found.into_iter().map(|q| (rel.to_string(), q)));
    }
    let alerts = alert_rules();
    let names: BTreeSet<_> = alerts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), alerts.len(), "alert names repeat: {alerts:?}");
    for wanted in [
        "KlaxonDown",
        "KlaxonDeadLetters",
        "KlaxonBreakerOpen",
        "KlaxonWarnings",
    ] {
        assert!(names.contains(wanted), "{ALERT_RULES}: no {wanted}");
    }
    queries.extend(
        alerts
            .into_iter()
            .map(|(n, e)| (format!("{ALERT_RULES} {n}"), e)),
    );

    let mut used = BTreeSet::new();
    let mut missing = Vec::new();
    for (whence, query) in &queries {
        for name in klaxon_identifiers(query) {
            if !exported.contains(&name) {
                missing.push(format!("{whence}: `{name}` in `{query}`"));
            }
            used.insert(name);
        }
    }
    assert!(
        missing.is_empty(),
        "series Klaxon does not export (src/telemetry/metrics.rs):\n{}\nexported: {exported:?}",
        missing.join("\n")
    );
    // The Klaxon dashboard shows every family at least once.
    let mut klaxon_board = Vec::new();
    dashboard_queries(&json(DASHBOARDS[0]), &mut klaxon_board);
    let shown: BTreeSet<_> = klaxon_board
        .iter()
        .flat_map(|q| klaxon_identifiers(q))
        .collect();
    let unshown: Vec<_> = exported.difference(&shown).collect();
    assert!(
        unshown.is_empty(),
        "{}: no panel shows {unshown:?}",
        DASHBOARDS[0]
    );
}

#[test]
fn dashboards_are_well_formed_and_use_the_provisioned_datasource() {
    let provisioned = yaml("dashboards/grafana/provisioning/datasources/prometheus.yaml");
    let datasources = provisioned["datasources"].as_array().expect("datasources");
    assert_eq!(datasources.len(), 1);
    let uid = str_of(&datasources[0]["uid"], "datasource uid");
    assert_eq!(
        str_of(&datasources[0]["type"], "datasource type"),
        "prometheus"
    );

    let mut uids = BTreeSet::new();
    for rel in DASHBOARDS {
        let board = json(rel);
        assert!(
            uids.insert(str_of(&board["uid"], "uid").to_string()),
            "{rel}: uid repeats"
        );
        assert!(!str_of(&board["title"], "title").is_empty());
        let version = board["schemaVersion"].as_u64().expect("schemaVersion");
        assert!(
            (36..=41).contains(&version),
            "{rel}: schemaVersion {version}"
        );
        let mut panels = Vec::new();
        for p in board["panels"].as_array().expect("panels") {
            panels.push(p);
            // A collapsed row holds its panels.
            if let Some(inner) = p.get("panels").and_then(Value::as_array) {
                panels.extend(inner);
            }
        }
        let mut ids = BTreeSet::new();
        let mut graphs = 0;
        for p in panels {
            let title = p["title"].as_str().unwrap_or_default();
            assert!(
                !title.trim().is_empty(),
                "{rel}: a panel without a title: {p}"
            );
            let id = p["id"].as_u64().expect("panel id");
            assert!(ids.insert(id), "{rel}: panel id {id} repeats");
            assert!(p["gridPos"].is_object(), "{rel}: {title}: no gridPos");
            if p["type"] == "row" {
                continue;
            }
            graphs += 1;
            assert_eq!(p["datasource"]["uid"], uid, "{rel}: {title}: datasource");
            let targets = p["targets"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert!(!targets.is_empty(), "{rel}: {title}: no targets");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert!(
                    !t["expr"].as_str().unwrap_or_default().trim().is_empty(),
                    "{rel}: {title}: a target without an expr"
                );
                assert!(
                    refs.insert(t["refId"].to_string()),
                    "{rel}: {title}: refId repeats"
                );
                if let Some(ds) = t.get("datasource") {
                    assert_eq!(ds["uid"], uid, "{rel}: {title}: a target's datasource");
                }
            }
        }
        assert!(graphs >= 5, "{rel}: only {graphs} panels");
        for var in board["templating"]["list"].as_array().into_iter().flatten() {
            if let Some(ds) = var.get("datasource") {
                assert_eq!(ds["uid"], uid, "{rel}: variable {}", var["name"]);
            }
        }
    }

    // The dashboards provider reads the directory the compose file mounts them into.
    let providers = yaml("dashboards/grafana/provisioning/dashboards/klaxon.yaml");
    let path = str_of(
        &providers["providers"][0]["options"]["path"],
        "provider path",
    );
    let compose = yaml(COMPOSE);
    assert_eq!(
        mount_target(&compose["services"]["grafana"], "./dashboards/grafana").as_deref(),
        Some(path),
        "grafana must mount ./dashboards/grafana at the provider's path"
    );
    let url = str_of(&datasources[0]["url"], "datasource url");
    let (host, port) = host_port(url.trim_start_matches("http://"));
    assert!(
        compose["services"][host].is_object(),
        "{url}: no service {host}"
    );
    assert!(
        ports(&compose["services"][host])
            .iter()
            .any(|&(_, c)| c == port),
        "{url}: {host} does not listen on {port}"
    );
}

// ---- docker-compose.yml -----------------------------------------------------------------

/// A service's `volumes:` entries as `(source, target)`; a bind mount's source starts with
/// `.` or `/`, anything else names a volume.
fn mounts(service: &Value) -> Vec<(String, String)> {
    let entries = service["volumes"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|m| match m {
            Value::String(s) => {
                let mut parts = s.split(':');
                let source = parts.next().unwrap_or_default().to_string();
                let target = parts.next().unwrap_or_else(|| panic!("no target: {s}"));
                (source, target.to_string())
            }
            Value::Object(_) => (
                str_of(&m["source"], "volume source").to_string(),
                str_of(&m["target"], "volume target").to_string(),
            ),
            other => panic!("odd volume entry {other}"),
        })
        .collect()
}

/// Where a service mounts `source` (a `./path` or a volume name).
fn mount_target(service: &Value, source: &str) -> Option<String> {
    mounts(service)
        .into_iter()
        .find(|(s, _)| s == source)
        .map(|(_, t)| t)
}

/// `host:port` → `(host, port)`.
fn host_port(s: &str) -> (&str, u16) {
    let s = s.trim_end_matches('/');
    let (host, port) = s.rsplit_once(':').unwrap_or_else(|| panic!("no port: {s}"));
    (
        host,
        port.parse().unwrap_or_else(|_| panic!("bad port: {s}")),
    )
}

/// A service's `ports:` as `(published, container)`.
fn ports(service: &Value) -> Vec<(u16, u16)> {
    let entries = service["ports"].as_array().cloned().unwrap_or_default();
    entries
        .iter()
        .map(|p| match p {
            Value::String(s) => {
                let s = s.trim_end_matches("/tcp");
                let parts: Vec<_> = s.rsplitn(3, ':').collect();
                let container: u16 = parts[0].parse().expect("container port");
                let published = parts.get(1).map_or(container, |p| p.parse().expect("port"));
                (published, container)
            }
            Value::Number(n) => {
                let port = n.as_u64().expect("port") as u16;
                (port, port)
            }
            Value::Object(_) => {
                let container = p["target"].as_u64().expect("target port") as u16;
                let published = match &p["published"] {
                    Value::String(s) => s.parse().expect("published port"),
                    Value::Number(n) => n.as_u64().expect("published port") as u16,
                    _ => container,
                };
                (published, container)
            }
            other => panic!("odd port entry {other}"),
        })
        .collect()
}

/// A service's `command:` as a list of words.
fn command(service: &Value) -> Vec<String> {
    match &service["command"] {
        Value::Array(words) => words
            .iter()
            .map(|w| str_of(w, "command word").to_string())
            .collect(),
        Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    }
}

/// The word after `flag` in a command.
fn arg_after<'a>(words: &'a [String], flag: &str) -> Option<&'a str> {
    let at = words.iter().position(|w| w == flag)?;
    words.get(at + 1).map(String::as_str)
}

#[test]
fn compose_file_hangs_together() {
    let compose = yaml(COMPOSE);
    let services = compose["services"].as_object().expect("services");
    for wanted in [
        "elasticsearch",
        "kibana",
        "kibana-setup",
        "klaxon",
        "loggen",
        "filebeat",
        "mailpit",
        "prometheus",
        "grafana",
    ] {
        assert!(services.contains_key(wanted), "no service {wanted}");
    }
    let declared: BTreeSet<&str> = compose["volumes"]
        .as_object()
        .expect("top-level volumes")
        .keys()
        .map(String::as_str)
        .collect();
    for v in ["logs", "state", "es-data"] {
        assert!(declared.contains(v), "volume {v} is not declared");
    }

    for (name, service) in services {
        match (&service["image"], &service["build"]) {
            (_, Value::String(context)) => {
                let dockerfile = repo().join(context).join("Dockerfile");
                assert!(dockerfile.is_file(), "{name}: no {}", dockerfile.display());
            }
            (_, build @ Value::Object(_)) => {
                let context = build["context"].as_str().unwrap_or(".");
                let file = build["dockerfile"].as_str().unwrap_or("Dockerfile");
                let dockerfile = repo().join(context).join(file);
                assert!(dockerfile.is_file(), "{name}: no {}", dockerfile.display());
            }
            (Value::String(image), Value::Null) => {
                assert!(!image.trim().is_empty(), "{name}: empty image")
            }
            _ => panic!("{name}: neither an image nor a build"),
        }
        for (source, target) in mounts(service) {
            assert!(target.starts_with('/'), "{name}: target {target}");
            if source.starts_with("./") {
                let path = repo().join(&source);
                assert!(
                    path.exists(),
                    "{name}: mounts {source}, which does not exist"
                );
            } else {
                assert!(
                    !source.starts_with('/') && !source.starts_with('.') && !source.is_empty(),
                    "{name}: mounts {source}: use ./paths inside the repository or named volumes"
                );
                assert!(
                    declared.contains(source.as_str()),
                    "{name}: volume {source} is not declared"
                );
            }
        }
        let depends: Vec<String> = match &service["depends_on"] {
            Value::Array(list) => list
                .iter()
                .map(|d| str_of(d, "depends_on").to_string())
                .collect(),
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Null => Vec::new(),
            other => panic!("{name}: odd depends_on {other}"),
        };
        for d in depends {
            assert!(
                services.contains_key(&d),
                "{name} depends on {d}, not a service"
            );
            assert_ne!(&d, name, "{name} depends on itself");
        }
    }

    // Klaxon: its config, rules, state and logs where deploy/compose/klaxon.yaml says.
    let klaxon = &compose["services"]["klaxon"];
    let config = yaml(KLAXON_CONFIG);
    let words = command(klaxon);
    assert_eq!(words.first().map(String::as_str), Some("run"), "{words:?}");
    let config_path = arg_after(&words, "-c").expect("klaxon run -c PATH");
    assert_eq!(
        mount_target(klaxon, &format!("./{KLAXON_CONFIG}")).as_deref(),
        Some(config_path)
    );
    assert_eq!(
        mount_target(klaxon, "./rules").as_deref(),
        config["rules"].as_str(),
        "rules/ must be mounted where klaxon.yaml's `rules:` points"
    );
    assert_eq!(
        mount_target(klaxon, "state").as_deref(),
        config["state_dir"].as_str()
    );
    let logs = mount_target(klaxon, "logs").expect("klaxon mounts the logs volume");
    let include = str_of(&config["sources"]["order-logs"]["include"][0], "include");
    assert!(
        include.starts_with(&format!("{logs}/")),
        "{include} not in {logs}"
    );
    let loggen = &compose["services"]["loggen"];
    assert_eq!(mount_target(loggen, "logs"), Some(logs.clone()));
    assert_eq!(
        arg_after(&command(loggen), "--logs-to"),
        Some(logs.as_str())
    );
    assert_eq!(
        mount_target(&compose["services"]["filebeat"], "logs"),
        Some(logs)
    );

    // Klaxon listens where it is published and where Prometheus scrapes it.
    let listen = str_of(&config["server"]["listen"], "server.listen");
    let (_, port) = host_port(listen);
    assert_eq!(port, 9095, "{listen}");
    assert!(
        ports(klaxon).iter().any(|&(p, c)| p == 9095 && c == port),
        "klaxon must publish 9095: {:?}",
        ports(klaxon)
    );
    let env = serde_json::to_string(&klaxon["environment"]).unwrap();
    assert!(env.contains("KLAXON_API_TOKEN"), "{env}");
    let dockerfile = read("Dockerfile");
    assert!(
        dockerfile.contains(&format!("EXPOSE {port}")),
        "Dockerfile EXPOSE"
    );
    assert!(
        dockerfile.contains(r#"ENTRYPOINT ["klaxon"]"#),
        "Dockerfile ENTRYPOINT"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));

    let prometheus = yaml(PROMETHEUS);
    let mut targets = Vec::new();
    for job in prometheus["scrape_configs"]
        .as_array()
        .expect("scrape_configs")
    {
        for sc in job["static_configs"].as_array().into_iter().flatten() {
            for t in sc["targets"].as_array().expect("targets") {
                targets.push((job["job_name"].clone(), str_of(t, "target").to_string()));
            }
        }
    }
    assert!(!targets.is_empty(), "Prometheus scrapes nothing");
    for (job, target) in &targets {
        let (host, p) = host_port(target);
        assert!(services.contains_key(host), "{target}: no service {host}");
        let listens: Vec<u16> = ports(&compose["services"][host])
            .iter()
            .map(|&(_, c)| c)
            .collect();
        assert!(
            listens.contains(&p),
            "{target}: {host} publishes {listens:?}"
        );
        if *job == "klaxon" {
            assert_eq!(
                (host, p),
                ("klaxon", port),
                "the klaxon job scrapes {target}"
            );
        }
    }
    assert!(targets.iter().any(|(j, _)| *j == "klaxon"), "no klaxon job");

    // Prometheus reads prometheus.yml and the alert rules from the mounted directory.
    let prom = &compose["services"]["prometheus"];
    let mounted = mount_target(prom, "./dashboards/prometheus").expect("mounts its config");
    let words = command(prom);
    assert!(
        words.contains(&format!("--config.file={mounted}/prometheus.yml")),
        "{words:?}"
    );
    for file in prometheus["rule_files"].as_array().expect("rule_files") {
        let file = str_of(file, "rule file");
        let here = Path::new(PROMETHEUS).parent().unwrap().join(file);
        assert!(repo().join(&here).is_file(), "rule file {file} missing");
    }
}

#[test]
fn kibana_saved_objects_match_the_stack() {
    let text = read("dashboards/kibana/klaxon-demo.ndjson");
    let objects: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .filter(|o: &Value| o.get("type").is_some())
        .collect();
    let view = objects
        .iter()
        .find(|o| o["type"] == "index-pattern")
        .expect("a data view");
    let config = yaml(KLAXON_CONFIG);
    assert_eq!(view["id"], config["kibana"]["data_view"]);
    assert_eq!(view["attributes"]["title"], "klaxon-demo*");
    assert_eq!(view["attributes"]["timeFieldName"], "@timestamp");
    let search = objects
        .iter()
        .find(|o| o["type"] == "search")
        .expect("a saved search");
    assert_eq!(search["references"][0]["id"], view["id"]);
    assert_eq!(
        search["attributes"]["columns"],
        serde_json::json!(["level", "order_id", "message"])
    );
    let source = str_of(
        &search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"],
        "searchSourceJSON",
    );
    let source: Value = serde_json::from_str(source).expect("searchSourceJSON is JSON");
    assert_eq!(
        source["indexRefName"], search["references"][0]["name"],
        "the search must point at its data view reference"
    );

    // Filebeat writes the index the data view reads.
    let filebeat = yaml("deploy/compose/filebeat.yml");
    let index = str_of(&filebeat["output.elasticsearch"]["index"], "filebeat index");
    assert!(index.starts_with("klaxon-demo"), "{index}");
    let compose = yaml(COMPOSE);
    let setup = &compose["services"]["kibana-setup"];
    assert!(
        mount_target(setup, "./dashboards/kibana/klaxon-demo.ndjson").is_some(),
        "kibana-setup imports the saved objects"
    );
}

// ---- deploy/compose/klaxon.yaml -----------------------------------------------------------

#[test]
fn compose_config_loads_with_the_shipped_rules() {
    // As the container sees it, but with `rules:` at this repository's rules/ (mounted at
    // /etc/klaxon/rules in the stack).
    let text = read(KLAXON_CONFIG);
    let line = "rules: /etc/klaxon/rules\n";
    assert!(text.contains(line), "{KLAXON_CONFIG}: expected `{line}`");
    let rules = repo().join("rules");
    let text = text.replace(line, &format!("rules: {:?}\n", rules.display().to_string()));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("klaxon.yaml");
    std::fs::write(&path, text).unwrap();
    // The token docker-compose.yml passes when KLAXON_API_TOKEN is not set must do too.
    let compose = read(COMPOSE);
    let start = "KLAXON_API_TOKEN=${KLAXON_API_TOKEN:-";
    let at = compose
        .find(start)
        .expect("klaxon's KLAXON_API_TOKEN with a default")
        + start.len();
    let default = &compose[at..at + compose[at..].find('}').expect("closing }")];
    let env: BTreeMap<String, String> =
        [("KLAXON_API_TOKEN".to_string(), default.to_string())].into();
    let loaded = klaxon::config::load_with_env(&path, &env)
        .unwrap_or_else(|d| panic!("{KLAXON_CONFIG} does not load:\n{d}"));
    assert!(!loaded.warnings.has_errors(), "{}", loaded.warnings);
    assert_eq!(loaded.rules.len(), rule_files().len());
    if let Err(d) = klaxon::pipeline::compile_rules(&loaded) {
        panic!("the shipped rules do not build with {KLAXON_CONFIG}:\n{d}");
    }
    assert_eq!(
        loaded.global.state_dir,
        Path::new("/var/lib/klaxon"),
        "state_dir"
    );
}

fn rule_files() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn every_channel_and_source_the_rules_name_is_in_the_compose_config() {
    let config = yaml(KLAXON_CONFIG);
    let channels = config["channels"].as_object().expect("channels");
    let sources = config["sources"].as_object().expect("sources");
    for path in rule_files() {
        let rel = path.strip_prefix(repo()).unwrap().display().to_string();
        let rule = yaml(&rel);
        let notify = rule["notify"].as_array().cloned().unwrap_or_default();
        assert!(!notify.is_empty(), "{rel}: notifies nobody");
        for channel in &notify {
            let channel = str_of(channel, "notify entry");
            assert!(
                channels.contains_key(channel),
                "{rel}: channel `{channel}` is not in {KLAXON_CONFIG}"
            );
        }
        let source = str_of(&rule["source"], "source");
        assert!(sources.contains_key(source), "{rel}: source `{source}`");
    }
}

// ---- deploy/klaxon.service ------------------------------------------------------------------

#[test]
fn systemd_unit_runs_klaxon_sandboxed() {
    let text = read("deploy/klaxon.service");
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current = None;
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.to_string());
            sections.entry(name.to_string()).or_default();
            continue;
        }
        let section = current
            .clone()
            .unwrap_or_else(|| panic!("outside a section: {line}"));
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        sections
            .entry(section)
            .or_default()
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    for s in ["Unit", "Service", "Install"] {
        assert!(sections.contains_key(s), "no [{s}]");
    }
    let service = &sections["Service"];
    let get = |key: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |key: &str| -> &str {
        let values = get(key);
        assert!(!values.is_empty(), "[Service] has no {key}=");
        values[values.len() - 1]
    };
    assert!(
        one("ExecStart").contains("klaxon run"),
        "{}",
        one("ExecStart")
    );
    assert_eq!(one("Type"), "simple");
    assert_eq!(one("User"), "klaxon");
    assert_eq!(one("Restart"), "on-failure");
    assert_eq!(one("StateDirectory"), "klaxon");
    assert!(get("ExecReload").is_empty(), "Klaxon has no reload signal");
    assert!(
        one("EnvironmentFile").starts_with('-'),
        "optional EnvironmentFile"
    );
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("ReadOnlyPaths", "/var/log"),
        ("ReadWritePaths", "/var/lib/klaxon"),
    ] {
        assert_eq!(one(key), value, "{key}=");
    }
    let families: BTreeSet<_> = one("RestrictAddressFamilies").split_whitespace().collect();
    assert_eq!(families, ["AF_INET", "AF_INET6", "AF_UNIX"].into());
    assert!(get("SystemCallFilter").contains(&"@system-service"));
    // Above the default shutdown_timeout (10s), which Klaxon spends delivering on SIGTERM.
    let stop: u64 = one("TimeoutStopSec")
        .trim_end_matches('s')
        .parse()
        .expect("TimeoutStopSec in seconds");
    assert!(stop > 10, "TimeoutStopSec={stop}");
    assert!(sections["Install"]
        .iter()
        .any(|(k, v)| k == "WantedBy" && v == "multi-user.target"));
}

/// The rule names a PromQL query selects: `rule="x"` and each alternative of `rule=~"a|b"`.
fn rules_selected(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (marker, regex) in [("rule=\"", false), ("rule=~\"", true)] {
        let mut rest = expr;
        while let Some(i) = rest.find(marker) {
            let tail = &rest[i + marker.len()..];
            let end = tail.find('"').unwrap_or(tail.len());
            let value = &tail[..end];
            if regex {
                out.extend(value.split('|').map(str::to_string));
            } else {
                out.push(value.to_string());
            }
            rest = &tail[end..];
        }
    }
    out
}

#[test]
fn the_order_dashboard_shows_every_shipped_rule_and_only_those() {
    let names: BTreeSet<String> = rule_files()
        .iter()
        .map(|p| {
            let rule =
                serde_saphyr::from_str::<Value>(&std::fs::read_to_string(p).unwrap()).unwrap();
            str_of(&rule["name"], "rule name").to_string()
        })
        .collect();
    let mut queries = Vec::new();
    dashboard_queries(
        &json("dashboards/grafana/order-lifecycle.json"),
        &mut queries,
    );
    let selected: BTreeSet<String> = queries.iter().flat_map(|q| rules_selected(q)).collect();
    let unknown: Vec<&String> = selected.difference(&names).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard names rules that do not exist: {unknown:?}"
    );
    let missing: Vec<&String> = names.difference(&selected).collect();
    assert!(
        missing.is_empty(),
        "shipped rules the dashboard never shows: {missing:?}"
    );
}
