//! The SQLite schema, as steps applied in order.

/// Schema steps, applied in order; `PRAGMA user_version` records how many ran.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE checkpoints (
    source      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    path        TEXT NOT NULL,
    offset      INTEGER NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (source, fingerprint)
);
CREATE TABLE realert (
    rule       TEXT NOT NULL,
    key        TEXT NOT NULL,
    hold_until TEXT NOT NULL,
    held_back  INTEGER NOT NULL,
    PRIMARY KEY (rule, key)
);
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    rule       TEXT NOT NULL,
    key        TEXT NOT NULL,
    severity   TEXT NOT NULL,
    count      INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    fired_at   TEXT NOT NULL,
    held_back  INTEGER NOT NULL,
    sample     TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX alerts_rule ON alerts (rule, fired_at);
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY,
    alert_id   INTEGER NOT NULL REFERENCES alerts (id),
    channel    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    next_at    TEXT,
    last_error TEXT,
    sent_at    TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_at);
"#,
    r#"
CREATE TABLE rule_meta (
    rule    TEXT PRIMARY KEY,
    meaning TEXT NOT NULL
);
CREATE TABLE rule_state (
    rule  TEXT NOT NULL,
    key   TEXT NOT NULL,
    state TEXT NOT NULL,
    PRIMARY KEY (rule, key)
);
CREATE TABLE source_clocks (
    source    TEXT PRIMARY KEY,
    event_max TEXT,
    reported  TEXT
);
"#,
    // State identities replace the old "meaning" hashes: rules stored under a meaning start
    // empty once (their identity no longer matches).
    r#"
ALTER TABLE rule_meta RENAME COLUMN meaning TO state_id;
"#,
    // The sample is kept once, in the alert's body (it was also a column of its own).
    r#"
ALTER TABLE alerts DROP COLUMN sample;
CREATE INDEX outbox_alert ON outbox (alert_id);
"#,
    // The alert lifecycle: alerts by rule + key, groups, history, silences, CLI commands;
    // outbox rows of one group's message share a batch.
    r#"
CREATE TABLE lifecycle (
    id         INTEGER PRIMARY KEY,
    rule       TEXT NOT NULL,
    key        TEXT NOT NULL,
    status     TEXT NOT NULL,
    record     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX lifecycle_identity ON lifecycle (rule, key);
CREATE TABLE lifecycle_groups (
    key    TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE alert_history (
    alert_id INTEGER NOT NULL,
    at       TEXT NOT NULL,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX alert_history_alert ON alert_history (alert_id, at);
CREATE TABLE silences (
    id        INTEGER PRIMARY KEY,
    matchers  TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    ends_at   TEXT NOT NULL,
    author    TEXT NOT NULL,
    comment   TEXT NOT NULL
);
CREATE TABLE commands (
    id         INTEGER PRIMARY KEY,
    kind       TEXT NOT NULL,
    target     TEXT NOT NULL,
    author     TEXT NOT NULL,
    created_at TEXT NOT NULL,
    done_at    TEXT,
    result     TEXT
);
ALTER TABLE outbox ADD COLUMN batch TEXT;
ALTER TABLE alerts ADD COLUMN message INTEGER NOT NULL DEFAULT 0;
"#,
];
