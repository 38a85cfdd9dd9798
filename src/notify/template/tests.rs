use std::collections::HashMap;

use super::*;
use crate::alert::sample_alert;

const PARTS: &[Part] = &[
    Part::new("title", Markup::DingTalkPlain, Role::Title, defaults::TITLE),
    Part::new(
        "text",
        Markup::DingTalk,
        Role::Body,
        "default {{ alert.rule }}",
    ),
    Part::new(
        "html",
        Markup::Html,
        Role::Body,
        "<p>{{ alert.sample }}</p>",
    ),
    Part::new("slack", Markup::Slack, Role::Body, "{{ alert.sample }}"),
    Part::new(
        "digest_text",
        Markup::Text,
        Role::DigestBody,
        "{{ digest.total }} alerts",
    ),
    Part {
        name: "body",
        markup: Markup::Json,
        role: Role::Body,
        default: None,
    },
];

fn templates(channel: TemplateParts, rules: HashMap<String, RuleMessage>) -> Templates {
    Templates::new(
        "ops",
        PARTS,
        channel,
        Arc::new(RuleMessages::new(rules)),
        Times::default(),
    )
}

fn parts(pairs: &[(&str, &str)]) -> TemplateParts {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_rule_override_beats_the_channel_which_beats_the_default() {
    let alert = sample_alert();
    let none = templates(TemplateParts::new(), HashMap::new());
    assert_eq!(
        none.render_alert("text", &alert).unwrap(),
        "default order-errors"
    );
    let channel = parts(&[("text", "channel {{ alert.count }}")]);
    let t = templates(channel.clone(), HashMap::new());
    assert_eq!(t.render_alert("text", &alert).unwrap(), "channel 5");
    let mut rules = HashMap::new();
    rules.insert(
        "order-errors".to_string(),
        RuleMessage {
            templates: [("ops".to_string(), parts(&[("text", "rule {{ title }}")]))].into(),
            ..Default::default()
        },
    );
    let t = templates(channel.clone(), rules.clone());
    assert_eq!(
        t.render_alert("text", &alert).unwrap(),
        "rule \\[CRITICAL\\] order-errors (sku=A-1)"
    );
    // Another rule's alert is not affected; a reload replaces the rules' settings.
    let mut other = sample_alert();
    other.rule = "other".into();
    assert_eq!(t.render_alert("text", &other).unwrap(), "channel 5");
    t.rules.replace(HashMap::new());
    assert_eq!(t.render_alert("text", &alert).unwrap(), "channel 5");
}

#[test]
fn a_template_that_fails_at_send_falls_back_and_the_alert_still_goes_out() {
    let alert = sample_alert();
    // `check` accepts it (the example alert has a key), but this alert has none.
    let channel = parts(&[("text", "{{ alert.key_fields[0].value }}")]);
    let t = templates(channel, HashMap::new());
    let mut keyless = alert.clone();
    keyless.key.clear();
    assert_eq!(
        t.render_alert("text", &keyless).unwrap(),
        "default order-errors"
    );
    assert_eq!(t.render_alert("text", &alert).unwrap(), "A-1");
}

#[test]
fn values_are_escaped_for_the_part_whoever_wrote_the_template() {
    let mut alert = sample_alert();
    alert.sample = "<script>x</script> @all <!channel> [a](http://e) **b**".into();
    let t = templates(parts(&[("text", "{{ alert.sample }}")]), HashMap::new());
    let md = t.render_alert("text", &alert).unwrap();
    assert!(
        !md.contains('@') && md.contains("\\[a\\](http:\u{200B}//e)"),
        "{md}"
    );
    assert_eq!(
        t.render_alert("html", &alert).unwrap(),
        "<p>&lt;script&gt;x&lt;/script&gt; @all &lt;!channel&gt; [a](http://e) **b**</p>"
    );
    assert_eq!(
        t.render_alert("slack", &alert).unwrap(),
        "&lt;script&gt;x&lt;/script&gt; @all &lt;!channel&gt; [a](http://e) **b**"
    );
}

#[test]
fn filters_write_markup_for_the_part() {
    let mut alert = sample_alert();
    alert.sample = "a ``` b @所有人".into();
    alert.kibana_url = Some("http://kibana/app/discover#/?_a=(q:'x')".into());
    let t = templates(
        parts(&[
            (
                "text",
                "{{ alert.sample | code }}|{{ alert.query | code_span }}|{{ alert.kibana_url | link('Kibana') }}|{{ 1234567 | grouped }}|{{ 3.333333 | rounded }}|{{ alert.rule | clip(5) }}",
            ),
            ("slack", "{{ alert.sample | code(4) }}|{{ alert.kibana_url | link('K') }}"),
        ]),
        HashMap::new(),
    );
    assert_eq!(
        t.render_alert("text", &alert).unwrap(),
        "```\na ``\u{02CB} b @所有人\n```\n\n|`\"ERROR\" AND (order_timeout OR inventory_rollback)`|\
         [Kibana](http://kibana/app/discover#/?_a=%28q:'x'%29)|1,234,567|3.333|orde…"
    );
    assert_eq!(
        t.render_alert("slack", &alert).unwrap(),
        "```\na `…\n```\n|<http://kibana/app/discover#/?_a=%28q:'x'%29|K>"
    );
    // A link to anything but http(s) is only its label.
    alert.kibana_url = Some("javascript:alert(1)".into());
    assert!(t.render_alert("slack", &alert).unwrap().ends_with("|K"));
}

#[test]
fn json_parts_write_json_values_and_have_no_default() {
    let alert = sample_alert();
    let none = templates(TemplateParts::new(), HashMap::new());
    assert_eq!(none.render_alert("body", &alert), None);
    let t = templates(
        parts(&[(
            "body",
            r#"{"msg": {{ alert.summary }}, "n": {{ alert.count }}, "d": {{ alert.detail }}}"#,
        )]),
        HashMap::new(),
    );
    let body: serde_json::Value =
        serde_json::from_str(&t.render_alert("body", &alert).unwrap()).unwrap();
    assert_eq!(body["n"], 5);
    assert_eq!(body["d"], serde_json::Value::Null);
    assert!(body["msg"].as_str().unwrap().starts_with("5 matches of"));
}

#[test]
fn output_no_service_would_take_falls_back_too() {
    let mut alert = sample_alert();
    alert.description = None;
    let t = templates(
        parts(&[
            ("title", "{{ alert.description }}"),
            ("body", r#"{"d": "{{ alert.detail }}"}"#),
        ]),
        HashMap::new(),
    );
    assert_eq!(
        t.render_alert("title", &alert).unwrap(),
        "[CRITICAL] order-errors (sku=A-1)"
    );
    alert.detail = Some("x".into());
    // No default for a JSON body: the channel sends its built-in form.
    assert_eq!(t.render_alert("body", &alert), None);
}

#[test]
fn a_code_block_opens_on_its_own_line_wherever_the_template_puts_it() {
    let mut alert = sample_alert();
    alert.sample = "x\n\n[click](http://evil) @13800000000\n# heading".into();
    let t = templates(
        parts(&[("text", "- Sample: {{ alert.sample | code }} after")]),
        HashMap::new(),
    );
    assert_eq!(
        t.render_alert("text", &alert).unwrap(),
        "- Sample: \n\n```\nx\n\n[click](http://evil) @13800000000\n# heading\n```\n\n after"
    );
}

#[test]
fn digests_render_with_their_own_parts() {
    let alerts = vec![sample_alert(), sample_alert()];
    let t = templates(TemplateParts::new(), HashMap::new());
    assert_eq!(t.render_digest("digest_text", &alerts).unwrap(), "2 alerts");
}

#[test]
fn check_finds_unknown_parts_bad_syntax_typos_and_bad_json() {
    let err = |name: &str, src: &str, for_rule: bool| {
        check(PARTS, name, src, for_rule).unwrap_err().to_string()
    };
    assert!(check(PARTS, "text", "{{ alert.rule }}", true).is_ok());
    assert_eq!(
        err("txet", "x", false),
        "unknown template part `txet`; did you mean `text`?"
    );
    assert!(err("digest_text", "x", true).contains("digest part"));
    let syntax = err("text", "line one\n{{ alert.rule ", false);
    assert!(syntax.starts_with("template line 2:"), "{syntax}");
    let typo = err("text", "{{ alert.rul }}", false);
    assert!(typo.contains("template line 1"), "{typo}");
    assert!(err("body", "{ not json", false).contains("invalid JSON"));
    // Valid JSON for the plain example only: a quoted value the other example sets.
    assert!(err("body", r#"{"link": "{{ alert.kibana_url }}"}"#, false).contains("invalid JSON"));
    // Nothing at all for an alert without a description.
    assert!(err("title", "{{ alert.description }}", false).contains("rendered nothing"));
    assert!(err("text", &"x".repeat(MAX_TEMPLATE_BYTES + 1), false).contains("bytes"));
}

#[test]
fn a_runaway_template_stops_instead_of_stalling_delivery() {
    let alert = sample_alert();
    let spin = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
    assert!(check(PARTS, "text", spin, false).is_err());
    let t = templates(parts(&[("text", spin)]), HashMap::new());
    assert_eq!(
        t.render_alert("text", &alert).unwrap(),
        "default order-errors"
    );
}
