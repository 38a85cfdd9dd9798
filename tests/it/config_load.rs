//! Loading real config directories: every problem is reported once, at its file:line:col.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use klaxon::config::{load_rule_file_with_env, load_with_env, Diagnostic, Diagnostics, Level};
use klaxon::rule::RuleParams;

const GLOBAL: &str = "\
sources:
  order-logs:
    type: file
    include: [\"logs/*.log\"]
channels:
  dingtalk-ops:
    type: console
  console:
    type: console
rules: rules
state_dir: var/state
";

const ORDER_ERRORS: &str = "\
name: order-errors
source: order-logs
query: '\"ERROR\" AND order_timeout'
type: frequency
threshold: 5
window: 1m
group_by: [sku]
notify: [dingtalk-ops]
";

const PAYMENT: &str = "\
name: payment-failed
source: order-logs
query: payment_failed
notify:
  - console
";

/// A config directory: klaxon.yaml plus `rules/NAME` files.
fn setup(global: &str, rules: &[(&str, &str)]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("rules")).unwrap();
    for (name, text) in rules {
        fs::write(dir.path().join("rules").join(name), text).unwrap();
    }
    let path = dir.path().join("klaxon.yaml");
    fs::write(&path, global).unwrap();
    // The source's glob matches a file (one that matches nothing is warned about).
    fs::create_dir(dir.path().join("logs")).unwrap();
    fs::write(dir.path().join("logs/orders.log"), "").unwrap();
    (dir, path)
}

fn no_env() -> BTreeMap<String, String> {
    BTreeMap::new()
}

/// Every problem `klaxon check` reports: loading, then building each rule.
fn errors(path: &Path, env: &BTreeMap<String, String>) -> Diagnostics {
    match load_with_env(path, env) {
        Ok(c) => match klaxon::pipeline::compile_rules(&c) {
            Ok((rules, _)) => panic!("expected errors, built {} rules", rules.len()),
            Err(d) => d,
        },
        Err(d) => d,
    }
}

/// The only error, or a panic listing all of them.
fn single_error(path: &Path) -> Diagnostic {
    let diags = errors(path, &no_env());
    let errs: Vec<_> = diags.errors().cloned().collect();
    assert_eq!(errs.len(), 1, "{diags}");
    errs.into_iter().next().unwrap()
}

fn ends_with(d: &Diagnostic, file: &str) -> bool {
    d.file.ends_with(file)
}

#[test]
fn full_valid_config_loads_with_resolved_paths() {
    let (dir, path) = setup(
        GLOBAL,
        &[
            ("order-errors.yaml", ORDER_ERRORS),
            ("payment.yml", PAYMENT),
        ],
    );
    let cfg = load_with_env(&path, &no_env()).unwrap();
    assert!(cfg.warnings.is_empty(), "{}", cfg.warnings);
    let names: Vec<_> = cfg.rules.iter().map(|r| r.config.name.as_str()).collect();
    assert_eq!(names, ["order-errors", "payment-failed"]);
    let order = &cfg.rules[0].config;
    let RuleParams::Frequency(params) = &order.params else {
        panic!("a frequency rule: {order:?}");
    };
    assert_eq!(params.threshold, 5);
    assert_eq!(order.query, "\"ERROR\" AND order_timeout");
    assert_eq!(cfg.global.state_dir, dir.path().join("var/state"));
    assert_eq!(
        Path::new(&cfg.global.rules),
        dir.path().join("rules").as_path()
    );
    assert_eq!(cfg.global.channels.len(), 2);
    // The query's first character sits after the opening quote on line 3.
    let rule = &cfg.rules[0];
    let d = rule.at("query", Some(1), Level::Error, "first".into());
    assert_eq!((d.line, d.column), (3, 9));
    let d = rule.at("query", Some(13), Level::Error, "expected a term".into());
    assert_eq!((d.line, d.column), (3, 21));
    assert!(d
        .to_string()
        .contains("order-errors.yaml:3:21: error: expected a term"));
}

#[test]
fn rules_glob_and_zero_rules_warning() {
    let global = GLOBAL.replace("rules: rules", "rules: \"rules/*-errors.yaml\"");
    let (_dir, path) = setup(
        &global,
        &[
            ("order-errors.yaml", ORDER_ERRORS),
            ("payment.yml", PAYMENT),
        ],
    );
    let cfg = load_with_env(&path, &no_env()).unwrap();
    assert_eq!(cfg.rules.len(), 1);
    assert_eq!(cfg.rules[0].config.name, "order-errors");

    let (_dir, path) = setup(GLOBAL, &[]);
    let cfg = load_with_env(&path, &no_env()).unwrap();
    assert!(cfg.rules.is_empty());
    let w: Vec<_> = cfg.warnings.iter().collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].severity, Level::Warning);
    assert_eq!((w[0].line, w[0].column), (10, 8));
    assert!(w[0].message.contains("no rules found"), "{}", w[0]);
}

#[test]
fn misspelled_field_points_at_it_and_lists_the_expected_ones() {
    let bad = ORDER_ERRORS.replace("threshold: 5", "thresold: 5");
    let (_dir, path) = setup(GLOBAL, &[("order-errors.yaml", &bad)]);
    let d = single_error(&path);
    assert!(ends_with(&d, "rules/order-errors.yaml"), "{d}");
    assert_eq!((d.line, d.column), (5, 1), "{d}");
    // The hint names the nearest key of this rule's type, not every key a rule can have.
    assert_eq!(
        d.message,
        "unknown key `thresold` for `type: frequency`; did you mean `threshold`?"
    );
    let text = d.to_string();
    assert!(text.contains("rules/order-errors.yaml:5:1: error: unknown key `thresold`"));
    assert!(text.contains("5 | thresold: 5\n  | ^"), "{text}");
}

#[test]
fn wrong_type_and_duplicate_key_are_located() {
    let bad = ORDER_ERRORS.replace("threshold: 5", "threshold: five");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &bad)]);
    let d = single_error(&path);
    assert_eq!((d.line, d.column), (5, 12), "{d}");
    assert!(d.message.contains("whole number"), "{d}");

    let bad = format!("{ORDER_ERRORS}name: again\n");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &bad)]);
    let d = single_error(&path);
    assert_eq!((d.line, d.column), (9, 1), "{d}");
    assert_eq!(d.message, "duplicate mapping key: name");
}

#[test]
fn unknown_channel_and_source_with_did_you_mean() {
    let bad = ORDER_ERRORS
        .replace("notify: [dingtalk-ops]", "notify: [console, dingtalk-opz]")
        .replace("source: order-logs", "source: orders");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &bad)]);
    let diags = errors(&path, &no_env());
    let all: Vec<_> = diags.iter().collect();
    assert_eq!(all.len(), 2, "{diags}");
    assert_eq!((all[0].line, all[0].column), (2, 9));
    assert_eq!(
        all[0].message,
        "unknown source `orders`; klaxon.yaml defines: order-logs"
    );
    assert_eq!((all[1].line, all[1].column), (8, 19));
    assert_eq!(
        all[1].message,
        "unknown channel `dingtalk-opz`; did you mean `dingtalk-ops`?"
    );
}

#[test]
fn duplicate_rule_names_name_both_files() {
    let twin = PAYMENT.replace("payment-failed", "order-errors");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", ORDER_ERRORS), ("b.yaml", &twin)]);
    let d = single_error(&path);
    assert!(ends_with(&d, "rules/b.yaml"), "{d}");
    assert_eq!((d.line, d.column), (1, 7));
    assert!(
        d.message
            .contains("rule name `order-errors` is already used by"),
        "{d}"
    );
    assert!(d.message.contains("rules/a.yaml:1:7"), "{d}");
}

#[test]
fn rule_type_requirements() {
    let no_window = ORDER_ERRORS.replace("window: 1m\n", "");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &no_window)]);
    let d = single_error(&path);
    assert_eq!((d.line, d.column), (4, 7), "{d}");
    assert!(d.message.contains("requires `window`"), "{d}");

    let any_with_threshold = format!("{PAYMENT}threshold: 3\n");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &any_with_threshold)]);
    let d = single_error(&path);
    assert_eq!((d.line, d.column), (6, 1), "{d}");
    assert_eq!(
        d.message,
        "`threshold` only applies to `type: frequency` and `type: flatline`"
    );

    let zero = ORDER_ERRORS
        .replace("threshold: 5", "threshold: 0")
        .replace("group_by: [sku]", "group_by: [sku, '']")
        .replace("notify: [dingtalk-ops]", "notify: []");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &zero)]);
    let diags = errors(&path, &no_env());
    let got: Vec<_> = diags.iter().map(|d| (d.line, d.column)).collect();
    assert_eq!(got, [(5, 12), (7, 17), (8, 9)], "{diags}");
}

#[test]
fn every_bad_rule_file_is_reported() {
    let (_dir, path) = setup(
        GLOBAL,
        &[
            (
                "a.yaml",
                &ORDER_ERRORS.replace("threshold: 5", "thresold: 5"),
            ),
            ("b.yaml", "# nothing here yet\n"),
            (
                "c.yaml",
                &PAYMENT.replace("notify:\n  - console", "notify:\n  - consol"),
            ),
            ("d.yaml", &PAYMENT.replace("payment-failed", "fine")),
        ],
    );
    let diags = errors(&path, &no_env());
    let files: Vec<_> = diags
        .iter()
        .map(|d| d.file.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files, ["a.yaml", "b.yaml", "c.yaml"], "{diags}");
    assert!(diags.0[1].message.contains("rule file is empty"));
    assert_eq!((diags.0[2].line, diags.0[2].column), (5, 5));
    assert!(diags.0[2].message.contains("did you mean `console`?"));
}

#[test]
fn env_values_and_defaults_are_substituted() {
    let global = format!(
        "{GLOBAL}kibana:\n  url: ${{KIBANA_URL:-http://kibana:5601}}\n  data_view: ${{VIEW}}\n"
    );
    let rule = PAYMENT.replace("query: payment_failed", "query: \"$${literal} ${Q}\"");
    let (_dir, path) = setup(&global, &[("a.yaml", &rule)]);
    let env = BTreeMap::from([
        ("VIEW".to_string(), "logs-*".to_string()),
        ("Q".to_string(), "say \"hi\"".to_string()),
    ]);
    let cfg = load_with_env(&path, &env).unwrap();
    let kibana = cfg.global.kibana.unwrap();
    assert_eq!(kibana.url, "http://kibana:5601");
    assert_eq!(kibana.data_view, "logs-*");
    assert_eq!(cfg.rules[0].config.query, "${literal} say \"hi\"");
}

#[test]
fn missing_variable_is_located_and_secrets_never_leak() {
    let global = format!("{GLOBAL}kibana:\n  url: x\n  data_view: ${{VIEW}}\n");
    let (_dir, path) = setup(&global, &[("a.yaml", PAYMENT)]);
    let d = single_error(&path);
    assert!(ends_with(&d, "klaxon.yaml"), "{d}");
    assert_eq!((d.line, d.column), (14, 14), "{d}");
    assert!(d.message.contains("`VIEW` is not set"), "{d}");

    // A secret in a value of the wrong type: the error must name the variable instead.
    let rule = PAYMENT.replace("payment_failed", "x\ntype: ${TOKEN}");
    let (_dir, path) = setup(GLOBAL, &[("a.yaml", &rule)]);
    let env = BTreeMap::from([("TOKEN".to_string(), "s3cr3t-v4lue".to_string())]);
    let diags = errors(&path, &env);
    let text = diags.to_string();
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(text.contains("unknown rule type `${TOKEN}`"), "{text}");
    assert!(text.contains("a.yaml:4:7:"), "{text}");

    let env = BTreeMap::from([("TOKEN".to_string(), "line1\nline2".to_string())]);
    let text = errors(&path, &env).to_string();
    assert!(text.contains("`TOKEN` contains a line break"), "{text}");
    assert!(!text.contains("line1"), "{text}");
}

#[test]
fn single_rule_file_loads_without_cross_checks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.yaml");
    // `nowhere` is not a channel anywhere, but a lone rule file is not checked against one.
    fs::write(&path, PAYMENT.replace("console", "nowhere")).unwrap();
    let rule = load_rule_file_with_env(&path, &no_env()).unwrap();
    assert_eq!(rule.config.notify, ["nowhere"]);
    let d = rule.at("query", Some(1), Level::Error, String::new());
    assert_eq!((d.line, d.column), (3, 8));
    fs::write(&path, "").unwrap();
    let err = load_rule_file_with_env(&path, &no_env()).unwrap_err();
    assert!(
        err.to_string()
            .contains("r.yaml:1:1: error: rule file is empty"),
        "{err}"
    );
}

#[test]
fn source_globs_resolve_against_the_config_directory_and_are_validated() {
    let (dir, path) = setup(GLOBAL, &[("a.yaml", ORDER_ERRORS)]);
    let loaded = load_with_env(&path, &no_env()).unwrap();
    let klaxon::source::SourceConfig::File(file) = &loaded.global.sources["order-logs"] else {
        panic!("order-logs is a file source");
    };
    assert_eq!(
        file.include,
        vec![dir.path().join("logs/*.log").to_string_lossy().into_owned()]
    );

    let bad = GLOBAL.replace("\"logs/*.log\"", "\"/var/log/[orders.log\"");
    let (_dir, path) = setup(&bad, &[("a.yaml", ORDER_ERRORS)]);
    let diags = errors(&path, &no_env());
    let d = diags.errors().next().expect("an invalid glob is an error");
    assert_eq!((d.line, d.column), (3, 5), "{d}");
    assert!(
        d.message
            .contains("source `order-logs`: invalid glob pattern"),
        "{d}"
    );
}
