//! The alert lifecycle in SQLite: written with each commit, read back at start and by the
//! CLI (`klaxon alerts`, `silence`, `ack`), which works beside a running Klaxon.

use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};

use super::lifecycle::{
    AlertRecord, CommandRow, GroupRecord, HistoryRow, LifecycleStore, SilenceRow,
};
use super::sqlite::{insert_alert, parse_ts, ts, SqliteStore};
use super::{Commit, StoreError};

/// The dispatcher's part of a commit: its messages (an alert row and an outbox row each),
/// alert and group records, history, and the commands it applied.
pub(super) fn write(tx: &Transaction<'_>, commit: &Commit) -> Result<(), StoreError> {
    let now = ts(commit.at);
    {
        let mut ob = tx.prepare_cached(
            "INSERT INTO outbox (alert_id, channel, status, next_at, batch)
             VALUES (?1, ?2, 'pending', ?3, ?4)",
        )?;
        for n in &commit.notifications {
            let alert_id = insert_alert(tx, &n.alert, &now, true)?;
            ob.execute(params![alert_id, n.channel, now, n.batch])?;
        }
    }
    let mut put = tx.prepare_cached(
        "INSERT INTO lifecycle (id, rule, key, status, record, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, record = excluded.record,
                                        updated_at = excluded.updated_at",
    )?;
    for r in &commit.lifecycle {
        put.execute(params![r.id as i64, r.rule, r.key, r.status, r.record, now])?;
    }
    let mut group = tx.prepare_cached(
        "INSERT INTO lifecycle_groups (key, record) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET record = excluded.record",
    )?;
    let mut drop_group = tx.prepare_cached("DELETE FROM lifecycle_groups WHERE key = ?1")?;
    for (key, record) in &commit.groups {
        match record {
            Some(r) => group.execute(params![key, r])?,
            None => drop_group.execute([key])?,
        };
    }
    let mut hist = tx.prepare_cached(
        "INSERT INTO alert_history (alert_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for h in &commit.history {
        hist.execute(params![h.alert_id as i64, ts(h.at), h.kind, h.detail])?;
    }
    let mut done =
        tx.prepare_cached("UPDATE commands SET done_at = ?2, result = ?3 WHERE id = ?1")?;
    for (id, result) in &commit.commands_done {
        done.execute(params![id, now, result])?;
    }
    Ok(())
}

/// Rows appended to alerts' histories in one transaction (see `StateStore::add_history`).
pub(super) fn append_history(
    conn: &mut rusqlite::Connection,
    rows: &[HistoryRow],
) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    {
        let mut hist = tx.prepare_cached(
            "INSERT INTO alert_history (alert_id, at, kind, detail) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for h in rows {
            hist.execute(params![h.alert_id as i64, ts(h.at), h.kind, h.detail])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Forgets resolved alerts, their history, ended silences and applied commands from
/// before `before`.
pub(super) fn prune(tx: &Transaction<'_>, before: &str) -> Result<u64, StoreError> {
    let alerts = tx.execute(
        "DELETE FROM lifecycle WHERE status = 'resolved' AND updated_at < ?1",
        [before],
    )?;
    tx.execute(
        "DELETE FROM alert_history WHERE at < ?1
         AND alert_id NOT IN (SELECT id FROM lifecycle)",
        [before],
    )?;
    tx.execute("DELETE FROM silences WHERE ends_at < ?1", [before])?;
    tx.execute(
        "DELETE FROM commands WHERE done_at IS NOT NULL AND done_at < ?1",
        [before],
    )?;
    Ok(alerts as u64)
}

fn time(s: String) -> DateTime<Utc> {
    parse_ts(&s).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn silence(r: &rusqlite::Row<'_>) -> rusqlite::Result<SilenceRow> {
    Ok(SilenceRow {
        id: r.get::<_, i64>(0)? as u64,
        matchers: r.get(1)?,
        starts_at: time(r.get(2)?),
        ends_at: time(r.get(3)?),
        author: r.get(4)?,
        comment: r.get(5)?,
    })
}

fn command(r: &rusqlite::Row<'_>) -> rusqlite::Result<CommandRow> {
    Ok(CommandRow {
        id: r.get(0)?,
        kind: r.get(1)?,
        target: r.get(2)?,
        author: r.get(3)?,
        created_at: time(r.get(4)?),
        result: r.get(5)?,
    })
}

const SILENCE_COLUMNS: &str = "id, matchers, starts_at, ends_at, author, comment";
const COMMAND_COLUMNS: &str = "id, kind, target, author, created_at, result";

impl LifecycleStore for SqliteStore {
    fn alert_record(&self, id: u64) -> Result<Option<AlertRecord>, StoreError> {
        let Ok(id) = i64::try_from(id) else {
            return Ok(None);
        };
        let conn = self.connection();
        let mut stmt =
            conn.prepare("SELECT id, rule, key, status, record FROM lifecycle WHERE id = ?1")?;
        let mut rows = stmt.query_map([id], alert_record)?;
        Ok(rows.next().transpose()?)
    }

    fn lifecycle(&self) -> Result<(Vec<AlertRecord>, Vec<GroupRecord>), StoreError> {
        let conn = self.connection();
        let mut stmt =
            conn.prepare("SELECT id, rule, key, status, record FROM lifecycle ORDER BY id")?;
        let alerts = stmt
            .query_map([], alert_record)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = conn.prepare("SELECT key, record FROM lifecycle_groups ORDER BY key")?;
        let groups = stmt
            .query_map([], |r| {
                Ok(GroupRecord {
                    key: r.get(0)?,
                    record: r.get(1)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok((alerts, groups))
    }

    fn history(&self, alert_id: u64) -> Result<Vec<HistoryRow>, StoreError> {
        let mut stmt = self.connection().prepare(
            "SELECT at, kind, detail FROM alert_history WHERE alert_id = ?1 ORDER BY at, rowid",
        )?;
        let rows = stmt
            .query_map([alert_id as i64], |r| {
                Ok(HistoryRow {
                    alert_id,
                    at: time(r.get(0)?),
                    kind: r.get(1)?,
                    detail: r.get(2)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn silences(&self, now: DateTime<Utc>) -> Result<Vec<SilenceRow>, StoreError> {
        let mut stmt = self.connection().prepare_cached(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > ?1 ORDER BY id"
        ))?;
        let rows = stmt
            .query_map([ts(now)], silence)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn all_silences(&self) -> Result<Vec<SilenceRow>, StoreError> {
        let mut stmt = self.connection().prepare(&format!(
            "SELECT {SILENCE_COLUMNS} FROM silences ORDER BY id DESC"
        ))?;
        let rows = stmt
            .query_map([], silence)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn add_silence(&mut self, s: &SilenceRow) -> Result<u64, StoreError> {
        let conn = self.connection();
        conn.execute(
            "INSERT INTO silences (matchers, starts_at, ends_at, author, comment)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                s.matchers,
                ts(s.starts_at),
                ts(s.ends_at),
                s.author,
                s.comment
            ],
        )?;
        Ok(conn.last_insert_rowid() as u64)
    }

    fn expire_silence(&mut self, id: u64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let n = self.connection().execute(
            "UPDATE silences SET ends_at = ?2 WHERE id = ?1 AND ends_at > ?2",
            params![id as i64, ts(now)],
        )?;
        Ok(n > 0)
    }

    fn queue_command(
        &mut self,
        kind: &str,
        target: &str,
        author: &str,
        at: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let conn = self.connection();
        conn.execute(
            "INSERT INTO commands (kind, target, author, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![kind, target, author, ts(at)],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn pending_commands(&self) -> Result<Vec<CommandRow>, StoreError> {
        let mut stmt = self.connection().prepare_cached(&format!(
            "SELECT {COMMAND_COLUMNS} FROM commands WHERE done_at IS NULL ORDER BY id"
        ))?;
        let rows = stmt
            .query_map([], command)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    fn command(&self, id: i64) -> Result<Option<CommandRow>, StoreError> {
        Ok(self
            .connection()
            .query_row(
                &format!("SELECT {COMMAND_COLUMNS} FROM commands WHERE id = ?1"),
                [id],
                command,
            )
            .optional()?)
    }
}

/// An alert record from a `SELECT id, rule, key, status, record FROM lifecycle` row.
fn alert_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        id: r.get::<_, i64>(0)? as u64,
        rule: r.get(1)?,
        key: r.get(2)?,
        status: r.get(3)?,
        record: r.get(4)?,
    })
}
