//! On a loopback address, only requests whose `Host` names this server are served: a web
//! page elsewhere could otherwise point a name of its own at 127.0.0.1 (DNS rebinding) and
//! read alerts through the visitor's browser. A server bound to another address is reached
//! by names Klaxon cannot know (a container's service name), and is left to the network.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

#[derive(Debug)]
pub struct AllowedHosts {
    /// `None`: any host (not bound to loopback).
    hosts: Option<Vec<String>>,
}

impl AllowedHosts {
    pub fn new(listen: SocketAddr, public_url: Option<&str>) -> AllowedHosts {
        if !listen.ip().is_loopback() {
            return AllowedHosts { hosts: None };
        }
        let port = listen.port();
        let mut hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
            listen.to_string(),
        ];
        if let Some(authority) = public_url
            .and_then(|u| u.split_once("://"))
            .map(|(_, rest)| rest.split('/').next().unwrap_or(rest))
        {
            hosts.push(authority.to_ascii_lowercase());
        }
        AllowedHosts { hosts: Some(hosts) }
    }

    pub fn allows(&self, host: Option<&str>) -> bool {
        match (&self.hosts, host) {
            (None, _) => true,
            (Some(hosts), Some(h)) => {
                let h = h.to_ascii_lowercase();
                hosts
                    .iter()
                    .any(|a| *a == h || a.split(':').next() == Some(h.as_str()) && !h.contains(':'))
            }
            (Some(_), None) => false,
        }
    }
}

pub async fn check(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if allowed.allows(host) {
        next.run(request).await
    } else {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "unknown Host for this Klaxon\n",
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_serves_its_own_names_only() {
        let a = AllowedHosts::new(
            "127.0.0.1:9095".parse().unwrap(),
            Some("https://klaxon.example.com/"),
        );
        for ok in [
            "127.0.0.1:9095",
            "localhost:9095",
            "LOCALHOST:9095",
            "klaxon.example.com",
        ] {
            assert!(a.allows(Some(ok)), "{ok}");
        }
        for bad in ["evil.example:9095", "127.0.0.1:9096", "attacker.test"] {
            assert!(!a.allows(Some(bad)), "{bad}");
        }
        assert!(!a.allows(None));
        let any = AllowedHosts::new("0.0.0.0:9095".parse().unwrap(), None);
        assert!(any.allows(Some("klaxon:9095")) && any.allows(None));
    }
}
