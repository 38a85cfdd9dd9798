//! Who may change things: the API's bearer token (kept only as its SHA-256, compared in
//! constant time), and the console's session cookie with its CSRF field (both HMACs under
//! the acknowledge-link key, so a restart with the same key keeps people signed in).

use axum::http::HeaderMap;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::types::Secret;

/// The API token, hashed: the plain value is not kept in memory past start.
#[derive(Clone)]
pub struct ApiToken {
    hash: [u8; 32],
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

impl ApiToken {
    pub fn new(token: &Secret) -> ApiToken {
        ApiToken {
            hash: Sha256::digest(token.expose().trim().as_bytes()).into(),
        }
    }

    /// Whether `presented` is the token. Hashing first makes the comparison's time
    /// independent of both the length and the content of what was presented.
    pub fn matches(&self, presented: &str) -> bool {
        let hash: [u8; 32] = Sha256::digest(presented.trim().as_bytes()).into();
        bool::from(hash.ct_eq(&self.hash))
    }

    /// `Authorization: Bearer <token>` carries the token.
    pub fn authorizes(&self, headers: &HeaderMap) -> bool {
        headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, rest) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then_some(rest)
            })
            .is_some_and(|t| self.matches(t))
    }
}

/// Console sessions: `{expiry}.{mac}` in an HttpOnly, SameSite=Strict cookie, given for
/// the API token; forms carry a CSRF value derived from the session.
#[derive(Clone)]
pub struct Sessions {
    key: Vec<u8>,
}

pub const SESSION_COOKIE: &str = "klaxon_session";
const SESSION_HOURS: i64 = 12;

impl Sessions {
    /// Keyed by `key` and the API token: a session value can never pass as an acknowledge
    /// token, and a changed (or removed) token ends every session.
    pub fn new(key: &[u8], token: Option<&ApiToken>) -> Sessions {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
        mac.update(b"klaxon-console-session-v1");
        if let Some(t) = token {
            mac.update(&t.hash);
        }
        Sessions {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self, what: &[u8], value: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(what);
        mac.update(value.as_bytes());
        mac
    }

    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let expires = (now + chrono::Duration::hours(SESSION_HOURS)).timestamp();
        let sig = self.mac(b"s", &expires.to_string()).finalize().into_bytes();
        format!("{expires}.{}", b64(&sig))
    }

    /// The session is genuine and current.
    pub fn valid(&self, session: &str, now: DateTime<Utc>) -> bool {
        let Some((expires, sig)) = session.split_once('.') else {
            return false;
        };
        let Ok(sig) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        self.mac(b"s", expires).verify_slice(&sig).is_ok()
            && expires.parse::<i64>().is_ok_and(|e| now.timestamp() < e)
    }

    /// The CSRF value forms of this session carry.
    pub fn csrf(&self, session: &str) -> String {
        b64(&self.mac(b"c", session).finalize().into_bytes())
    }

    pub fn csrf_matches(&self, session: &str, presented: &str) -> bool {
        bool::from(self.csrf(session).as_bytes().ct_eq(presented.as_bytes()))
    }

    /// The session cookie of a request, if any.
    pub fn from_headers(headers: &HeaderMap) -> Option<String> {
        headers
            .get_all(axum::http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(name, _)| *name == SESSION_COOKIE)
            .map(|(_, value)| value.to_string())
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_authorizes() {
        let t = ApiToken::new(&Secret::new("s3cret-token-0123456789"));
        let mut h = HeaderMap::new();
        assert!(!t.authorizes(&h));
        h.insert(
            "authorization",
            "Bearer s3cret-token-0123456789".parse().unwrap(),
        );
        assert!(t.authorizes(&h));
        h.insert(
            "authorization",
            "bearer s3cret-token-0123456789".parse().unwrap(),
        );
        assert!(t.authorizes(&h));
        h.insert(
            "authorization",
            "Bearer s3cret-token-012345678".parse().unwrap(),
        );
        assert!(!t.authorizes(&h));
        h.insert(
            "authorization",
            "Basic s3cret-token-0123456789".parse().unwrap(),
        );
        assert!(!t.authorizes(&h));
        assert_eq!(format!("{t:?}"), "ApiToken(***)");
    }

    #[test]
    fn sessions_expire_and_cannot_be_forged() {
        let token = ApiToken::new(&Secret::new("a-token-of-sixteen-chars"));
        let s = Sessions::new(b"key key key key key", Some(&token));
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let session = s.issue(now);
        assert!(s.valid(&session, now));
        assert!(!s.valid(&session, now + chrono::Duration::hours(13)));
        let (_, sig) = session.split_once('.').unwrap();
        assert!(!s.valid(&format!("9999999999.{sig}"), now));
        assert!(!Sessions::new(b"another key", Some(&token)).valid(&session, now));
        let other = ApiToken::new(&Secret::new("another-token-of-sixteen"));
        assert!(
            !Sessions::new(b"key key key key key", Some(&other)).valid(&session, now),
            "a changed token ends the sessions"
        );
        let csrf = s.csrf(&session);
        assert!(s.csrf_matches(&session, &csrf));
        assert!(!s.csrf_matches(&session, "x"));
    }
}
