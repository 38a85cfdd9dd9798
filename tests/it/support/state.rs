//! The SQLite state a running or killed Klaxon keeps in its `state_dir`, read back.

use std::path::Path;
use std::time::{Duration, Instant};

use klaxon::alert::Alert;
use klaxon::store::{SqliteStore, StateStore, DB_FILE};

/// Whether Klaxon has created its store (opening one here would create it).
fn created(state: &Path) -> bool {
    state.join(DB_FILE).exists()
}

/// Every alert recorded, oldest first; none before Klaxon has created the store. Retries
/// for a while when the store is locked (a restarted Klaxon recovering its WAL).
pub fn alerts(state: &Path) -> Vec<Alert> {
    if !created(state) {
        return Vec::new();
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match SqliteStore::open(state).and_then(|s| s.alerts()) {
            Ok(alerts) => return alerts,
            Err(e) if Instant::now() > deadline => panic!("reading {}: {e}", state.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// How many alerts are recorded: a cheap read for polling (0 while unreadable).
pub fn alert_count(state: &Path) -> usize {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let Ok(conn) = rusqlite::Connection::open_with_flags(state.join(DB_FILE), flags) else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM alerts WHERE message = 0", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_or(0, |n| n as usize)
}

/// Waits until Klaxon has committed all of `log`: the checkpoint of `source` (reading only
/// that file) is at its end.
pub fn wait_handled(state: &Path, source: &str, log: &Path) {
    let size = std::fs::metadata(log).unwrap().len();
    let at_end = || {
        created(state)
            && SqliteStore::open(state)
                .ok()
                .and_then(|s| s.checkpoints(source).ok())
                .and_then(|c| c.first().map(|c| c.offset))
                == Some(size)
    };
    super::wait_until(
        &format!("klaxon to handle {}", log.display()),
        Duration::from_secs(60),
        at_end,
    );
}
