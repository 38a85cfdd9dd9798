//! HTTP endpoints that behave as the services Klaxon delivers to do under load: a rate
//! limit answered with `429`, DingTalk's robot throttle (`130101`, then blocked), a slow
//! server. Every request is recorded with when it came and what was answered.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// How the endpoint answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// `200` to everything.
    Ok,
    /// At most `per_second` requests in any second; past it `429` + `Retry-After: 1`.
    Limit { per_second: usize },
    /// DingTalk: at most `per_minute` in any 60 s; past it errcode 130101 and every request
    /// for `block` afterwards too.
    DingTalk { per_minute: usize, block: Duration },
    /// `200`, after `delay`.
    Slow(Duration),
}

/// One request.
#[derive(Debug, Clone)]
pub struct Hit {
    pub at: Instant,
    pub body: Vec<u8>,
    /// Whether it was accepted (2xx, and errcode 0 for DingTalk).
    pub accepted: bool,
}

#[derive(Clone)]
struct Shared {
    behaviour: Behaviour,
    hits: Arc<Mutex<Vec<Hit>>>,
    blocked_until: Arc<Mutex<Option<Instant>>>,
}

pub struct Endpoint {
    pub addr: std::net::SocketAddr,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Endpoint {
    pub async fn start(behaviour: Behaviour) -> Endpoint {
        let shared = Shared {
            behaviour,
            hits: Arc::default(),
            blocked_until: Arc::default(),
        };
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Endpoint { addr, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.shared.hits.lock().unwrap().clone()
    }

    /// The most requests seen in any window of `window`.
    pub fn busiest(&self, window: Duration) -> usize {
        let hits = self.hits();
        (0..hits.len())
            .map(|i| {
                hits[i..]
                    .iter()
                    .take_while(|h| h.at.duration_since(hits[i].at) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    /// Every JSON value of the accepted requests' bodies.
    pub fn accepted_bodies(&self) -> Vec<serde_json::Value> {
        self.hits()
            .iter()
            .filter(|h| h.accepted)
            .filter_map(|h| serde_json::from_slice(&h.body).ok())
            .collect()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(State(shared): State<Shared>, body: Bytes) -> Response {
    let now = Instant::now();
    let recent = |window: Duration| {
        let hits = shared.hits.lock().unwrap();
        hits.iter()
            .filter(|h| now.duration_since(h.at) < window)
            .count()
    };
    let (accepted, response) = match shared.behaviour {
        Behaviour::Ok => (true, StatusCode::OK.into_response()),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            (true, StatusCode::OK.into_response())
        }
        Behaviour::Limit { per_second } => {
            if recent(Duration::from_secs(1)) >= per_second {
                let reply = (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "1")],
                    "slow down",
                );
                (false, reply.into_response())
            } else {
                (true, StatusCode::OK.into_response())
            }
        }
        Behaviour::DingTalk { per_minute, block } => {
            let mut blocked = shared.blocked_until.lock().unwrap();
            let over = recent(Duration::from_secs(60)) >= per_minute;
            if over {
                *blocked = Some(now + block);
            }
            if blocked.is_some_and(|until| now < until) {
                let body =
                    r#"{"errcode":130101,"errmsg":"send too fast, exceed 20 times per minute"}"#;
                (false, body.into_response())
            } else {
                (true, r#"{"errcode":0,"errmsg":"ok"}"#.into_response())
            }
        }
    };
    shared.hits.lock().unwrap().push(Hit {
        at: now,
        body: body.to_vec(),
        accepted,
    });
    response
}
