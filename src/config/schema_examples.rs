//! A short example per section of docs/CONFIG.md, by section: `klaxon.yaml`, a source or
//! channel type, `rule`, `rule:TYPE`. `tests/it/schema.rs` checks each against its schema.

pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "klaxon.yaml",
        "sources:
  app:
    type: file
    include: [/var/log/app/*.log]
    format: json
    time_field: ts
channels:
  ops:
    type: slack
    webhook_url: ${SLACK_WEBHOOK_URL}
rules: rules/
state_dir: /var/lib/klaxon
display_timezone: Asia/Shanghai
",
    ),
    (
        "file",
        "type: file
include: [/var/log/app/*.log]
exclude: ['*.gz']
format: json
time_field: ts
poll_interval: 250ms
",
    ),
    ("stdin", "type: stdin\nformat: logfmt\n"),
    (
        "elasticsearch",
        "type: elasticsearch
urls: [https://es.example.com:9200]
index: logs-app-*
api_key: ${ES_API_KEY}
timestamp_field: '@timestamp'
poll_interval: 30s
",
    ),
    (
        "rabbitmq",
        "type: rabbitmq
url: http://rabbitmq:15672
username: monitor
password: ${RABBITMQ_PASSWORD}
queues: [orders.*, /^payment\\./]
interval: 30s
",
    ),
    (
        "http_json",
        "type: http_json
url: https://status.example.com/health
headers:
  Authorization: Bearer ${STATUS_TOKEN}
fields:
  depth: /queue/depth
interval: 1m
",
    ),
    ("console", "type: console\nformat: line\n"),
    (
        "webhook",
        "type: webhook
url: https://hooks.example.com/klaxon
signing_secret: ${WEBHOOK_SECRET}
timeout: 10s
",
    ),
    (
        "dingtalk",
        "type: dingtalk
access_token: ${DINGTALK_TOKEN}
secret: ${DINGTALK_SECRET}
keyword: alert
at_mobiles: ['13800000000']
",
    ),
    (
        "slack",
        "type: slack
webhook_url: ${SLACK_WEBHOOK_URL}
delivery:
  rate_limit: 1/s
",
    ),
    (
        "email",
        "type: email
smtp:
  host: smtp.example.com
  port: 587
  tls: starttls
  username: klaxon
  password: ${SMTP_PASSWORD}
from: klaxon@example.com
to: [oncall@example.com]
",
    ),
    (
        "command",
        "type: command
program: /usr/local/bin/restart-consumer
args: [--queue, orders]
timeout: 30s
",
    ),
    (
        "rule",
        "name: error-burst
description: 20 ERROR lines within 30 seconds
source: app
query: 'level:ERROR'
type: frequency
threshold: 20
window: 30s
realert: 5m
severity: critical
notify: [ops]
",
    ),
    ("rule:any", "name: oom\nsource: app\nquery: '\"OutOfMemoryError\"'\nnotify: [ops]\n"),
    (
        "rule:frequency",
        "type: frequency\nthreshold: 20\nwindow: 30s\n",
    ),
    (
        "rule:flatline",
        "type: flatline\nthreshold: 1\nwindow: 10m\ngroup_by: [service]\n",
    ),
    (
        "rule:spike",
        "type: spike\nwindow: 5m\nspike_height: 3\nspike_type: up\nthreshold_cur: 10\n",
    ),
    (
        "rule:change",
        "type: change\nfield: state\nsequence: [paid, created]\ngroup_by: [order_id]\n",
    ),
    ("rule:blacklist", "type: blacklist\nfield: client_ip\nvalues_file: bad-ips.txt\n"),
    ("rule:whitelist", "type: whitelist\nfield: country\nvalues: [CN, SG]\n"),
    ("rule:new_term", "type: new_term\nfield: error_code\nlearning: 7d\n"),
    (
        "rule:cardinality",
        "type: cardinality\nfield: client_ip\nwindow: 10m\nmax_cardinality: 3\ngroup_by: [card_id]\n",
    ),
    (
        "rule:metric",
        "type: metric\nfield: latency_ms\nmetric: p99\nwindow: 5m\nabove: 2000\n",
    ),
    (
        "rule:absence",
        "type: absence\nstart: payment_requested\nexpect: payment_callback\nwithin: 10m\ngroup_by: [order_id]\n",
    ),
    (
        "rule:mismatch",
        "type: mismatch
window: 30m
group_by: [order_id]
left:
  query: delivery_status_changed
  field: status
right:
  query: tracking_update
  field: status
",
    ),
];
