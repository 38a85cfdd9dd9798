//! Reading the outbox of the SQLite store: due deliveries (all, or one channel's) and dead
//! letters, each with its alert.

use rusqlite::{params, Connection};

use super::{DeadLetter, Delivery, StoreError};

/// Pending deliveries due at `now` (to `channel`, or to any), oldest first. A row whose
/// alert no longer reads becomes a dead letter with the reason, so it cannot block the rest.
pub(super) fn due(
    conn: &Connection,
    channel: Option<&str>,
    now: &str,
    limit: usize,
) -> Result<Vec<Delivery>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.channel, o.attempts, a.id, a.body, o.last_error, o.batch FROM outbox o
         JOIN alerts a ON a.id = o.alert_id
         WHERE o.status = 'pending' AND o.next_at <= ?1 AND (?2 IS NULL OR o.channel = ?2)
         ORDER BY o.next_at, o.id LIMIT ?3",
    )?;
    let rows = read(&mut stmt, params![now, channel, limit as i64])?;
    drop(stmt);
    let mut out = Vec::new();
    for row in rows {
        match row {
            Ok((delivery, _)) => out.push(delivery),
            Err((id, error)) => {
                tracing::error!("{error}; delivery {id} moved to dead letters");
                conn.execute(
                    "UPDATE outbox SET status = 'dead', last_error = ?2 WHERE id = ?1",
                    params![id, error],
                )?;
            }
        }
    }
    Ok(out)
}

/// Dead letters, oldest first.
pub(super) fn dead(conn: &Connection, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.channel, o.attempts, a.id, a.body, o.last_error, o.batch FROM outbox o
         JOIN alerts a ON a.id = o.alert_id
         WHERE o.status = 'dead' ORDER BY o.id LIMIT ?1",
    )?;
    let rows = read(&mut stmt, params![limit as i64])?;
    Ok(rows
        .into_iter()
        .filter_map(Result::ok)
        .map(|(delivery, error)| DeadLetter {
            delivery,
            error: error.unwrap_or_default(),
        })
        .collect())
}

type Row = Result<(Delivery, Option<String>), (i64, String)>;

/// Rows of (outbox id, channel, attempts, alert id, alert body, last error, batch).
fn read(
    stmt: &mut rusqlite::CachedStatement<'_>,
    params: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Row>, StoreError> {
    let rows = stmt.query_map(params, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, channel, attempts, alert_id, body, error, batch) = row?;
        out.push(match serde_json::from_str(&body) {
            Ok(alert) => Ok((
                Delivery {
                    id,
                    alert_id,
                    channel,
                    alert,
                    attempts: attempts as u32,
                    batch,
                },
                error,
            )),
            Err(source) => Err((
                id,
                StoreError::Corrupt {
                    id: alert_id,
                    source,
                }
                .to_string(),
            )),
        });
    }
    Ok(out)
}
