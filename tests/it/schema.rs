//! The JSON Schemas of klaxon.yaml and rule files (`klaxon schema`) and docs/CONFIG.md:
//! the checked-in files are what the types generate (`KLAXON_BLESS=1` rewrites them),
//! every YAML file we ship validates against its schema, and the schemas refuse a
//! misspelled key or a value of the wrong type.

use std::path::{Path, PathBuf};

use klaxon::config::schema::{config_markdown, config_schema, rule_schema, to_text, EXAMPLES};
use serde_json::{json, Value};

use crate::support::binary::klaxon;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `expected` is what `path` holds, or (with `KLAXON_BLESS=1`) `path` is rewritten to it.
fn check_generated(path: &str, expected: &str) {
    let path = root().join(path);
    if std::env::var_os("KLAXON_BLESS").is_some() {
        std::fs::write(&path, expected).unwrap();
        return;
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        found == expected,
        "{} is not what the config types generate; regenerate it with \
         `KLAXON_BLESS=1 cargo test --test it schema` (or `klaxon schema config|rule`, \
         `klaxon schema --markdown`)",
        path.display()
    );
}

fn cli_output(args: &[&str]) -> String {
    let out = klaxon().arg("schema").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn checked_in_schemas_are_what_klaxon_schema_prints() {
    let config = cli_output(&["config"]);
    let rule = cli_output(&["rule"]);
    assert_eq!(config, to_text(&config_schema()));
    assert_eq!(rule, to_text(&rule_schema()));
    check_generated("schemas/klaxon.schema.json", &config);
    check_generated("schemas/rule.schema.json", &rule);
}

#[test]
fn config_md_is_what_the_generator_writes() {
    let markdown = cli_output(&["--markdown"]);
    assert_eq!(markdown, config_markdown());
    check_generated("docs/CONFIG.md", &markdown);
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the schema says of `instance`: each error with where it is.
fn problems(schema: &Value, instance: &Value) -> Vec<String> {
    let validator = jsonschema::validator_for(schema).expect("the schema compiles");
    validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn assert_valid(schema: &Value, instance: &Value, what: &str) {
    let found = problems(schema, instance);
    assert!(found.is_empty(), "{what}: {found:#?}");
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no YAML in {dir}");
    files
}

#[test]
fn every_shipped_yaml_validates_against_its_schema() {
    let rule = rule_schema();
    let config = config_schema();
    let mut rules = yaml_files("rules");
    rules.extend(yaml_files("tests/it/elastalert/expected/rules"));
    for path in &rules {
        assert_valid(&rule, &yaml(path), &path.display().to_string());
    }
    for path in ["rules/samples/klaxon.yaml", "deploy/compose/klaxon.yaml"] {
        assert_valid(&config, &yaml(&root().join(path)), path);
    }
}

#[test]
fn shipped_yaml_names_its_schema_for_editors() {
    for path in yaml_files("rules") {
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/rule.schema.json\n"),
            "{}",
            path.display()
        );
    }
    for (path, schema) in [
        (
            "rules/samples/klaxon.yaml",
            "../../schemas/klaxon.schema.json",
        ),
        (
            "deploy/compose/klaxon.yaml",
            "../../schemas/klaxon.schema.json",
        ),
    ] {
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        let first = text.lines().next().unwrap();
        assert_eq!(
            first,
            format!("# yaml-language-server: $schema={schema}"),
            "{path}"
        );
        assert!(root().join(path).parent().unwrap().join(schema).is_file());
    }
}

#[test]
fn every_example_in_config_md_validates() {
    let rule = rule_schema();
    let config = config_schema();
    let common = "name: r\nsource: app\nquery: x\nnotify: [ops]\n";
    for (section, example) in EXAMPLES {
        let (schema, text) = if *section == "klaxon.yaml" {
            (&config, example.to_string())
        } else if *section == "rule" {
            (&rule, example.to_string())
        } else if let Some(kind) = section.strip_prefix("rule:") {
            let text = if kind == "any" {
                example.to_string()
            } else {
                format!("{common}{example}")
            };
            (&rule, text)
        } else {
            // A source or channel: under its map in a klaxon.yaml.
            let under =
                if ["file", "stdin", "elasticsearch", "rabbitmq", "http_json"].contains(section) {
                    "sources"
                } else {
                    "channels"
                };
            let indented: String = example.lines().map(|l| format!("    {l}\n")).collect();
            (&config, format!("rules: r\n{under}:\n  x:\n{indented}"))
        };
        let value: Value = serde_saphyr::from_str(&text).unwrap();
        assert_valid(schema, &value, section);
    }
}

fn frequency_rule() -> Value {
    json!({
        "name": "r", "source": "app", "query": "level:ERROR", "notify": ["ops"],
        "type": "frequency", "threshold": 20, "window": "30s"
    })
}

fn minimal_config() -> Value {
    json!({
        "rules": "rules/",
        "sources": { "app": { "type": "file", "include": ["*.log"], "poll_interval": "1s" } },
        "channels": { "ops": { "type": "slack", "webhook_url": "${SLACK_WEBHOOK_URL}" } }
    })
}

#[test]
fn misspelled_keys_are_rejected() {
    let rule = rule_schema();
    let config = config_schema();
    assert_valid(&rule, &frequency_rule(), "frequency rule");
    assert_valid(&config, &minimal_config(), "klaxon.yaml");

    let mut misspelled = frequency_rule();
    misspelled["treshold"] = misspelled["threshold"].take();
    misspelled.as_object_mut().unwrap().remove("threshold");
    assert!(!problems(&rule, &misspelled).is_empty(), "treshold");
    // A key of another type is not one of this type's.
    let mut foreign = frequency_rule();
    foreign["spike_height"] = json!(3);
    assert!(
        !problems(&rule, &foreign).is_empty(),
        "spike_height in frequency"
    );
    // A rule without `type:` is `any`, which has no keys of its own.
    let mut any = frequency_rule();
    any.as_object_mut().unwrap().remove("type");
    assert!(
        !problems(&rule, &any).is_empty(),
        "threshold in an any rule"
    );

    let mut source = minimal_config();
    source["sources"]["app"]["poll_intervall"] = json!("1s");
    assert!(!problems(&config, &source).is_empty(), "poll_intervall");

    let mut channel = minimal_config();
    let slack = &mut channel["channels"]["ops"];
    slack["webhook_ur"] = slack["webhook_url"].take();
    slack.as_object_mut().unwrap().remove("webhook_url");
    assert!(!problems(&config, &channel).is_empty(), "webhook_ur");

    let mut top = minimal_config();
    top["state_directory"] = json!("state");
    assert!(!problems(&config, &top).is_empty(), "state_directory");
}

#[test]
fn values_of_the_wrong_type_are_rejected() {
    let rule = rule_schema();
    let config = config_schema();
    let mut many = frequency_rule();
    many["threshold"] = json!("many");
    assert!(!problems(&rule, &many).is_empty(), "threshold: many");
    let mut window = frequency_rule();
    window["window"] = json!("30 seconds");
    assert!(!problems(&rule, &window).is_empty(), "window: 30 seconds");
    let mut kind = frequency_rule();
    kind["type"] = json!("frequncy");
    assert!(!problems(&rule, &kind).is_empty(), "type: frequncy");
    let mut source = minimal_config();
    source["sources"]["app"]["type"] = json!("fiel");
    assert!(!problems(&config, &source).is_empty(), "type: fiel");
    // Durations may come from the environment.
    let mut env = frequency_rule();
    env["window"] = json!("${WINDOW:-30s}");
    assert_valid(&rule, &env, "window: ${WINDOW:-30s}");
}

#[test]
fn defaults_and_descriptions_reach_config_md() {
    let doc = config_markdown();
    for needle in [
        "| `state_dir` | string | `state` |",
        "| `retention` | [Duration](#duration) | `30d` |",
        "| `realert` | [Duration](#duration) | `1m` |",
        "| `allowed_lateness` | [Duration](#duration) | `30s` |",
        "| `max_keys` | integer | `100000` |",
        "| `poll_interval` | [Duration](#duration) | `250ms` |",
        "| `base_url` | string | `https://oapi.dingtalk.com/robot/send` | Where",
        "| `keyword` |",
        "| `at_mobiles` |",
        "`none` (no encryption",
        "`line`: one line per alert",
        "### `type: mismatch`",
        "### `type: command`",
        "### `type: http_json`",
    ] {
        assert!(doc.contains(needle), "docs/CONFIG.md lacks {needle:?}");
    }
}
