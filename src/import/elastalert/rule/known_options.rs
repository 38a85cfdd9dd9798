//! ElastAlert options that need no counterpart, and those that have none, each with why.

/// Options that only shaped how ElastAlert queried or displayed, not what a rule means.
pub(super) const NOT_NEEDED: &[(&str, &str)] = &[
    ("use_count_query", "Klaxon counts the events it reads"),
    ("use_terms_query", "Klaxon keys events as it reads them"),
    (
        "terms_size",
        "Klaxon keeps every key up to `max_keys`, not the top N of a terms aggregation",
    ),
    ("doc_type", "mapping types no longer exist"),
    ("max_query_size", "the source pages through every hit"),
    ("max_scrolling_count", "the source pages through every hit"),
    ("scroll_keepalive", "the source uses a point in time"),
    ("include", "alerts carry the whole event"),
    ("exclude_fields", "alerts carry the whole event"),
    (
        "scan_entire_timeframe",
        "windows are kept in memory and in the state store",
    ),
    ("use_local_time", "messages show `display_timezone` and UTC"),
    (
        "use_keyword_postfix",
        "events carry the field itself, not `.keyword`",
    ),
    ("use_strftime_index", "the index pattern uses `*` instead"),
    ("name", "converted"),
    (
        "window_step_size",
        "Klaxon learns terms from the events it reads",
    ),
    (
        "generate_kibana_link",
        "alerts link to Kibana Discover from klaxon.yaml `kibana:`",
    ),
    (
        "generate_kibana_discover_url",
        "alerts link to Kibana Discover from klaxon.yaml `kibana:`",
    ),
    ("kibana_discover_app_url", "set klaxon.yaml `kibana.url`"),
    (
        "kibana_discover_version",
        "Klaxon writes links for Kibana 8",
    ),
    (
        "kibana_discover_index_pattern_id",
        "set the source's `kibana.data_view`",
    ),
    (
        "kibana_discover_from_timedelta",
        "the link spans the alert's events",
    ),
    (
        "kibana_discover_to_timedelta",
        "the link spans the alert's events",
    ),
    ("kibana_url", "set klaxon.yaml `kibana.url`"),
    ("use_kibana4_dashboard", "set klaxon.yaml `kibana.url`"),
    (
        "kibana4_start_timedelta",
        "the link spans the alert's events",
    ),
    ("kibana4_end_timedelta", "the link spans the alert's events"),
    (
        "timestamp_format",
        "the source reads the field as Elasticsearch does",
    ),
    (
        "timestamp_format_expr",
        "the source reads the field as Elasticsearch does",
    ),
    ("es_conn_timeout", "set the source's `timeout`"),
    ("verify_certs", "set the source's `ca_file`"),
    ("ca_certs", "set the source's `ca_file`"),
    ("es_send_get_body_as", "the source uses POST"),
];

/// Options Klaxon has no counterpart for, with what to do instead.
pub(super) const LOST: &[(&str, &str)] = &[
    ("exponential_realert", "Klaxon holds back for `realert`, then repeats an open alert every `grouping.repeat_interval` and escalates while unacknowledged"),
    ("aggregation", "Klaxon gathers alerts into digests by klaxon.yaml `grouping` (group_wait, group_interval)"),
    ("aggregation_key", "set klaxon.yaml `grouping.group_by`"),
    ("aggregate_by_match_time", "digests group by arrival"),
    ("aggregation_alert_time_compared_with_timestamp_field", "digests group by arrival"),
    ("summary_table_fields", "digests list each alert's key and count"),
    ("summary_table_type", "digests list each alert's key and count"),
    ("summary_table_max_rows", "digests list each alert's key and count"),
    ("summary_prefix", "digests have their own text; see the channel's digest templates"),
    ("summary_suffix", "digests have their own text; see the channel's digest templates"),
    ("aggregation_summary_only", "digests list each alert"),
    ("alert_subject", "Klaxon's templates are minijinja over `alert.*` (docs/MESSAGES.md); write a `templates:` title"),
    ("alert_subject_args", "see alert_subject"),
    ("alert_subject_max_len", "see alert_subject"),
    ("alert_text", "Klaxon's templates are minijinja over `alert.*` (docs/MESSAGES.md); write a `templates:` text"),
    ("alert_text_args", "see alert_text"),
    ("alert_text_kw", "see alert_text"),
    ("alert_text_type", "see alert_text"),
    ("alert_text_jinja", "see alert_text"),
    ("alert_missing_value", "see alert_text"),
    ("top_count_keys", "alerts carry a sample event, not top counts"),
    ("top_count_number", "alerts carry a sample event, not top counts"),
    ("raw_count_keys", "alerts carry a sample event, not top counts"),
    ("attach_related", "an alert carries its first event as the sample"),
    ("limit_execution", "rules run continuously; silence them by schedule with `klaxon silence`"),
    ("realert_key", "the hold is per rule and key"),
    ("query_key_missing_value", "events without a group_by field share the empty value"),
    ("alert_on_new_data", "Klaxon compares a key only once it has two windows of history"),
    ("alert_on_missing_field", "Klaxon learns terms from events that have the field; add an `any` rule with `NOT _exists_:field`"),
    ("min_doc_count", "Klaxon aggregates every key with at least one event"),
    ("metric_format_string", "messages print the aggregate as a number"),
    ("percentage_format_string", "messages print the percentage as a number"),
    ("sync_bucket_interval", "Klaxon's windows slide with the events; they are not aligned to the clock"),
];
