//! The SQLite `StateStore`: one file under `state_dir`, WAL mode.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection};

use super::sqlite_outbox as outbox;
use super::state_dir::{prepare_dir, prepare_file, FileIdentity};
use super::{Commit, DeadLetter, Delivery, Pruned, StateStore, StoreError};
use crate::alert::Alert;
use crate::alert::RealertState;
use crate::source::{Checkpoint, SourceClockState};

/// The database file inside `state_dir`.
pub const DB_FILE: &str = "klaxon.sqlite";

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    /// The file opened, to notice it deleted or replaced underneath.
    identity: Option<FileIdentity>,
}

/// Timestamps are stored as fixed-width RFC 3339 UTC text, so they sort as text.
pub(super) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Stores `alert` in `alerts` (as raised, or as a message about one); its row id.
pub(super) fn insert_alert(
    tx: &rusqlite::Transaction<'_>,
    a: &crate::alert::Alert,
    fired_at: &str,
    message: bool,
) -> Result<i64, StoreError> {
    let body = serde_json::to_string(a).expect("alerts always serialize");
    tx.prepare_cached(
        "INSERT INTO alerts (rule, key, severity, count, first_seen, last_seen, fired_at,
                             held_back, body, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        a.rule,
        a.key.id(),
        a.severity.as_str(),
        a.count as i64,
        ts(a.first_seen),
        ts(a.last_seen),
        fired_at,
        a.held_back as i64,
        body,
        message
    ])?;
    Ok(tx.last_insert_rowid())
}

/// A stored time; `None` for text that is not one (a corrupt row is no time, not a panic).
pub(super) fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl SqliteStore {
    /// Open (creating if needed) the store in `state_dir`: the directory `0700`, the
    /// database `0600`.
    pub fn open(state_dir: &Path) -> Result<Self, StoreError> {
        prepare_dir(state_dir)?;
        let path = state_dir.join(DB_FILE);
        prepare_file(&path)?;
        Self::open_file(&path)
    }

    pub fn open_file(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        // WAL survives a killed process without losing committed transactions;
        // synchronous=NORMAL trades only the last commits on power loss for speed.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            identity: FileIdentity::of(path),
        };
        store.migrate()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Fails when the database file was deleted or replaced since it was opened: writing
    /// on would go into a file no restart reads, and the restart would alert everything
    /// again.
    fn still_there(&self) -> Result<(), StoreError> {
        match (self.identity, FileIdentity::of(&self.path)) {
            (Some(opened), Some(now)) if opened == now => Ok(()),
            (None, _) => Ok(()),
            _ => Err(StoreError::Replaced {
                path: self.path.display().to_string(),
            }),
        }
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        // The version is read inside a write transaction, so two processes opening a new
        // store at once (klaxon and a tool reading it) never both apply a step.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        for (i, sql) in super::migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(version)
        {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i + 1)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Every recorded alert, oldest first (for `klaxon` tooling and tests).
    pub fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, body FROM alerts WHERE message = 0 ORDER BY id")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row?;
            out.push(
                serde_json::from_str(&body).map_err(|source| StoreError::Corrupt { id, source })?,
            );
        }
        Ok(out)
    }

    /// Outbox rows by status, for inspection: (pending, sent, dead).
    pub fn outbox_counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let count = |status: &str| -> Result<u64, StoreError> {
            Ok(self.conn.query_row(
                "SELECT COUNT(*) FROM outbox WHERE status = ?1",
                [status],
                |r| r.get(0),
            )?)
        };
        Ok((count("pending")?, count("sent")?, count("dead")?))
    }
}

impl StateStore for SqliteStore {
    fn checkpoints(&self, source: &str) -> Result<Vec<Checkpoint>, StoreError> {
        let mut stmt = self.conn.prepare(
            "SELECT source, fingerprint, path, offset FROM checkpoints WHERE source = ?1",
        )?;
        let rows = stmt.query_map([source], |r| {
            Ok(Checkpoint {
                source: r.get(0)?,
                fingerprint: r.get(1)?,
                path: r.get(2)?,
                offset: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn realert_states(&self) -> Result<Vec<RealertState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT rule, key, hold_until, held_back FROM realert")?;
        let rows = stmt.query_map([], |r| {
            Ok(RealertState {
                rule: r.get(0)?,
                key: r.get(1)?,
                // An unreadable hold holds nothing back.
                hold_until: parse_ts(&r.get::<_, String>(2)?).unwrap_or(DateTime::<Utc>::MIN_UTC),
                held_back: r.get::<_, i64>(3)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rule_state_ids(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self.conn.prepare("SELECT rule, state_id FROM rule_meta")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rule_states(&self, rule: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, state FROM rule_state WHERE rule = ?1 ORDER BY key")?;
        let rows = stmt.query_map([rule], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn source_clocks(&self) -> Result<Vec<SourceClockState>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT source, event_max, reported FROM source_clocks")?;
        let rows = stmt.query_map([], |r| {
            Ok(SourceClockState {
                source: r.get(0)?,
                event_max: r.get::<_, Option<String>>(1)?.and_then(|t| parse_ts(&t)),
                reported: r.get::<_, Option<String>>(2)?.and_then(|t| parse_ts(&t)),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn commit(&mut self, commit: &Commit) -> Result<(), StoreError> {
        if commit.is_empty() {
            return Ok(());
        }
        self.still_there()?;
        let now = ts(commit.at);
        let tx = self.conn.transaction()?;
        {
            let mut cp = tx.prepare_cached(
                "INSERT INTO checkpoints (source, fingerprint, path, offset, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (source, fingerprint) DO UPDATE
                 SET path = excluded.path, offset = excluded.offset, updated_at = excluded.updated_at",
            )?;
            for c in &commit.checkpoints {
                cp.execute(params![
                    c.source,
                    c.fingerprint,
                    c.path,
                    c.offset as i64,
                    now
                ])?;
            }
            let mut re = tx.prepare_cached(
                "INSERT INTO realert (rule, key, hold_until, held_back) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (rule, key) DO UPDATE
                 SET hold_until = excluded.hold_until, held_back = excluded.held_back",
            )?;
            for r in &commit.realert {
                re.execute(params![r.rule, r.key, ts(r.hold_until), r.held_back as i64])?;
            }
            write_rule_state(&tx, commit)?;
            let mut ob = tx.prepare_cached(
                "INSERT INTO outbox (alert_id, channel, status, next_at) VALUES (?1, ?2, 'pending', ?3)",
            )?;
            for raised in &commit.alerts {
                let a = &raised.alert;
                insert_alert(&tx, a, &ts(a.fired_at), false)?;
                let alert_id = tx.last_insert_rowid();
                for channel in &raised.channels {
                    ob.execute(params![alert_id, channel, ts(a.fired_at)])?;
                }
            }
        }
        super::sqlite_lifecycle::write(&tx, commit)?;
        tx.commit()?;
        Ok(())
    }

    fn prune(&mut self, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
        self.still_there()?;
        prune_before(&mut self.conn, before)
    }

    fn due_deliveries(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        outbox::due(&self.conn, None, &ts(now), limit)
    }

    fn due_for(
        &self,
        channel: &str,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        outbox::due(&self.conn, Some(channel), &ts(now), limit)
    }

    fn due_count(&self, channel: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM outbox
                 WHERE status = 'pending' AND next_at <= ?1 AND channel = ?2",
            )?
            .query_row(params![ts(now), channel], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        outbox::dead(&self.conn, limit)
    }

    fn retry_dead(&mut self, id: Option<i64>, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "UPDATE outbox SET status = 'pending', attempts = 0, next_at = ?2
             WHERE status = 'dead' AND (?1 IS NULL OR id = ?1)",
            params![id, ts(now)],
        )? as u64)
    }

    fn drop_dead(&mut self, id: Option<i64>) -> Result<u64, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM outbox WHERE status = 'dead' AND (?1 IS NULL OR id = ?1)",
            params![id],
        )? as u64)
    }

    fn requeue(
        &mut self,
        alert_id: i64,
        channel: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.still_there()?;
        // Once per alert and channel: two channels falling back on each other stop there.
        self.conn.execute(
            "INSERT INTO outbox (alert_id, channel, status, next_at)
             SELECT ?1, ?2, 'pending', ?3
             WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE alert_id = ?1 AND channel = ?2)",
            params![alert_id, channel, ts(now)],
        )?;
        Ok(())
    }

    fn delivered(&mut self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE outbox SET status = 'sent', attempts = attempts + 1, sent_at = ?2,
             last_error = NULL WHERE id = ?1",
            params![id, ts(at)],
        )?;
        Ok(())
    }

    fn delivery_failed(
        &mut self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let status = if retry_at.is_some() {
            "pending"
        } else {
            "dead"
        };
        self.conn.execute(
            "UPDATE outbox SET status = ?2, attempts = attempts + 1, next_at = ?3, last_error = ?4
             WHERE id = ?1",
            params![id, status, retry_at.map(ts), error],
        )?;
        Ok(())
    }

    fn add_history(&mut self, rows: &[super::HistoryRow]) -> Result<(), StoreError> {
        super::sqlite_lifecycle::append_history(&mut self.conn, rows)
    }
}

/// Forgets, in one transaction, what [`StateStore::prune`] names.
fn prune_before(conn: &mut Connection, before: DateTime<Utc>) -> Result<Pruned, StoreError> {
    let before = ts(before);
    let tx = conn.transaction()?;
    let deliveries = tx.execute(
        "DELETE FROM outbox WHERE status IN ('sent', 'dead')
         AND alert_id IN (SELECT id FROM alerts WHERE fired_at < ?1)",
        [&before],
    )?;
    let alerts = tx.execute(
        "DELETE FROM alerts WHERE fired_at < ?1
         AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.alert_id = alerts.id)",
        [&before],
    )?;
    let holds = tx.execute("DELETE FROM realert WHERE hold_until < ?1", [&before])?;
    super::sqlite_lifecycle::prune(&tx, &before)?;
    tx.commit()?;
    Ok(Pruned {
        deliveries: deliveries as u64,
        alerts: alerts as u64,
        holds: holds as u64,
    })
}

/// Rule resets, then changed keys, then source clocks: the rule side of a commit.
fn write_rule_state(tx: &rusqlite::Transaction<'_>, commit: &Commit) -> Result<(), StoreError> {
    for reset in &commit.rule_resets {
        tx.execute("DELETE FROM rule_state WHERE rule = ?1", [&reset.rule])?;
        match &reset.state_id {
            Some(m) => tx.execute(
                "INSERT INTO rule_meta (rule, state_id) VALUES (?1, ?2)
                 ON CONFLICT (rule) DO UPDATE SET state_id = excluded.state_id",
                params![reset.rule, m],
            )?,
            None => tx.execute("DELETE FROM rule_meta WHERE rule = ?1", [&reset.rule])?,
        };
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO rule_state (rule, key, state) VALUES (?1, ?2, ?3)
         ON CONFLICT (rule, key) DO UPDATE SET state = excluded.state",
    )?;
    let mut delete = tx.prepare_cached("DELETE FROM rule_state WHERE rule = ?1 AND key = ?2")?;
    for c in &commit.rule_state {
        match &c.state {
            Some(state) => put.execute(params![c.rule, c.key, state])?,
            None => delete.execute(params![c.rule, c.key])?,
        };
    }
    let mut clock = tx.prepare_cached(
        "INSERT INTO source_clocks (source, event_max, reported) VALUES (?1, ?2, ?3)
         ON CONFLICT (source) DO UPDATE SET event_max = excluded.event_max,
                                            reported = excluded.reported",
    )?;
    for c in &commit.clocks {
        clock.execute(params![c.source, c.event_max.map(ts), c.reported.map(ts)])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RaisedAlert;

    fn commit_one(store: &mut SqliteStore, offset: u64) {
        let mut alert = crate::alert::sample_alert();
        alert.count = offset;
        store
            .commit(&Commit {
                checkpoints: vec![Checkpoint {
                    source: "s".into(),
                    fingerprint: "fp".into(),
                    path: "/x.log".into(),
                    offset,
                }],
                realert: vec![RealertState {
                    rule: "r".into(),
                    key: "{}".into(),
                    hold_until: alert.fired_at,
                    held_back: offset,
                }],
                alerts: vec![RaisedAlert {
                    alert,
                    channels: vec!["a".into(), "b".into()],
                    escalation: None,
                }],
                ..Commit::default()
            })
            .unwrap();
    }

    #[test]
    fn commits_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut store = SqliteStore::open(dir.path()).unwrap();
            commit_one(&mut store, 10);
            commit_one(&mut store, 20);
        }
        let store = SqliteStore::open(dir.path()).unwrap();
        let cps = store.checkpoints("s").unwrap();
        assert_eq!(cps.len(), 1);
        assert_eq!(cps[0].offset, 20);
        assert!(store.checkpoints("other").unwrap().is_empty());
        let re = store.realert_states().unwrap();
        assert_eq!(re.len(), 1);
        assert_eq!(re[0].held_back, 20);
        let alerts = store.alerts().unwrap();
        assert_eq!(
            alerts.iter().map(|a| a.count).collect::<Vec<_>>(),
            vec![10, 20]
        );
        assert_eq!(store.outbox_counts().unwrap(), (4, 0, 0));
    }

    #[test]
    fn an_unreadable_alert_becomes_a_dead_letter_without_blocking_the_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        commit_one(&mut store, 1);
        store
            .conn
            .execute("UPDATE alerts SET body = '{'", [])
            .unwrap();
        commit_one(&mut store, 2);
        let fired = crate::alert::sample_alert().fired_at;
        let due = store.due_deliveries(fired, 10).unwrap();
        assert_eq!(
            due.iter().map(|d| d.alert.count).collect::<Vec<_>>(),
            vec![2, 2]
        );
        assert_eq!(store.outbox_counts().unwrap(), (2, 0, 2));
    }

    #[test]
    fn outbox_moves_through_retry_sent_and_dead() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        commit_one(&mut store, 1);
        let fired = crate::alert::sample_alert().fired_at;
        assert!(store
            .due_deliveries(fired - chrono::Duration::seconds(1), 10)
            .unwrap()
            .is_empty());
        let due = store.due_deliveries(fired, 10).unwrap();
        assert_eq!(
            due.iter().map(|d| d.channel.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
        assert_eq!(due[0].alert, crate::alert::sample_alert_with_count(1));
        store.delivered(due[0].id, fired).unwrap();
        let later = fired + chrono::Duration::seconds(30);
        store
            .delivery_failed(due[1].id, "HTTP 500", Some(later))
            .unwrap();
        assert!(store.due_deliveries(fired, 10).unwrap().is_empty());
        let retry = store.due_deliveries(later, 10).unwrap();
        assert_eq!((retry.len(), retry[0].attempts), (1, 1));
        store
            .delivery_failed(retry[0].id, "HTTP 400", None)
            .unwrap();
        assert!(store
            .due_deliveries(later + chrono::Duration::days(1), 10)
            .unwrap()
            .is_empty());
        assert_eq!(store.outbox_counts().unwrap(), (0, 1, 1));
    }

    #[test]
    fn rule_state_resets_changes_and_clocks_survive_reopening() {
        use crate::store::{RuleReset, RuleStateChange};
        let dir = tempfile::tempdir().unwrap();
        let change = |key: &str, state: Option<&str>| RuleStateChange {
            rule: "r".into(),
            key: key.into(),
            state: state.map(String::from),
        };
        let t = crate::alert::sample_alert().first_seen;
        {
            let mut store = SqliteStore::open(dir.path()).unwrap();
            store
                .commit(&Commit {
                    rule_resets: vec![RuleReset {
                        rule: "r".into(),
                        state_id: Some("m1".into()),
                    }],
                    rule_state: vec![change("a", Some("1")), change("b", Some("2"))],
                    clocks: vec![SourceClockState {
                        source: "s".into(),
                        event_max: Some(t),
                        reported: None,
                    }],
                    ..Commit::default()
                })
                .unwrap();
            store
                .commit(&Commit {
                    rule_state: vec![change("a", None), change("b", Some("3"))],
                    ..Commit::default()
                })
                .unwrap();
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(
            store.rule_state_ids().unwrap(),
            vec![("r".into(), "m1".into())]
        );
        assert_eq!(
            store.rule_states("r").unwrap(),
            vec![("b".into(), "3".into())]
        );
        let clocks = store.source_clocks().unwrap();
        assert_eq!((clocks[0].event_max, clocks[0].reported), (Some(t), None));
        // A reset drops every key; a reset to no identity forgets the rule.
        store
            .commit(&Commit {
                rule_resets: vec![RuleReset {
                    rule: "r".into(),
                    state_id: None,
                }],
                ..Commit::default()
            })
            .unwrap();
        assert!(store.rule_states("r").unwrap().is_empty());
        assert!(store.rule_state_ids().unwrap().is_empty());
    }
}
