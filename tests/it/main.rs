//! Klaxon's integration tests, one binary (`cargo test --test it`) as ripgrep does: one link
//! instead of one per file, and one `support` module shared by all.

mod support;

mod cli;
mod cli_install;
mod cluster_ack;
mod cluster_failover;
mod cluster_jetstream;
mod config_load;
mod console_browser;
mod delivery;
mod hostile;
mod import_elastalert;
mod lifecycle;
mod notify_channels;
mod notify_command;
mod notify_dingtalk;
mod notify_email;
mod notify_slack;
mod notify_test_cli;
mod ops_files;
mod query_conformance;
mod query_elastic;
mod query_roundtrip;
mod regressions;
mod reload_rules;
mod replay_cli;
mod replay_history;
mod restart_rules;
mod rule_fixes;
mod rules_cli;
mod run_vs_test;
mod schema;
mod server_api;
mod shipped_rules;
mod source_elasticsearch;
mod source_elasticsearch_contract;
mod source_features;
mod source_file;
mod source_http_json;
mod source_rabbitmq;
mod source_samples;
mod store_contract;
mod tail_rotation_kill;
mod templates;
