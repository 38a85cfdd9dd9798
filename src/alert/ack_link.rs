//! Acknowledge links: `{public_url}/ack/{token}`, where the token names one alert and an
//! expiry and carries an HMAC-SHA256 of both under Klaxon's key. Anyone holding the link
//! can acknowledge that alert (as anyone in the chat room could say "mine") until it
//! expires; nobody can make one for another alert or a later time without the key.
//! Opening it only shows a page: chat and mail clients fetch links to preview them, so
//! only the page's POST acknowledges (see `server::ack`).

use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Signs and checks acknowledge tokens.
#[derive(Clone)]
pub struct AckLinks {
    key: Vec<u8>,
    ttl: chrono::Duration,
    /// Without a trailing `/`; links are made only when it is set.
    public_url: Option<String>,
}

impl std::fmt::Debug for AckLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckLinks")
            .field("key", &"***")
            .field("ttl", &self.ttl)
            .field("public_url", &self.public_url)
            .finish()
    }
}

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AckTokenError {
    #[error("this acknowledge link is not one Klaxon made")]
    Invalid,
    #[error("this acknowledge link has expired")]
    Expired,
}

const CONTEXT: &[u8] = b"klaxon-ack-link-v1";

impl AckLinks {
    pub fn new(key: Vec<u8>, ttl: chrono::Duration, public_url: Option<String>) -> AckLinks {
        AckLinks {
            key,
            ttl,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    fn mac(&self, alert_id: u64, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(CONTEXT);
        mac.update(&alert_id.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// A token for `alert_id`, good until `now` + the link lifetime.
    pub fn token(&self, alert_id: u64, now: DateTime<Utc>) -> String {
        let expires = now
            .checked_add_signed(self.ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .timestamp();
        let sig = self.mac(alert_id, expires).finalize().into_bytes();
        format!(
            "{alert_id}.{expires}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The link for `alert_id`, when `server.public_url` is set.
    pub fn link(&self, alert_id: u64, now: DateTime<Utc>) -> Option<String> {
        let base = self.public_url.as_ref()?;
        Some(format!("{base}/ack/{}", self.token(alert_id, now)))
    }

    /// The alert a token acknowledges, if it is genuine and not expired at `now`. The
    /// signature is checked (in constant time) before the expiry is trusted.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<u64, AckTokenError> {
        let mut parts = token.splitn(3, '.');
        let (Some(id), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(AckTokenError::Invalid);
        };
        let canonical =
            |s: &str| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
        if !canonical(id) || !canonical(expires.trim_start_matches('-')) {
            return Err(AckTokenError::Invalid);
        }
        let id: u64 = id.parse().map_err(|_| AckTokenError::Invalid)?;
        let expires: i64 = expires.parse().map_err(|_| AckTokenError::Invalid)?;
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| AckTokenError::Invalid)?;
        self.mac(id, expires)
            .verify_slice(&sig)
            .map_err(|_| AckTokenError::Invalid)?;
        if now.timestamp() >= expires {
            return Err(AckTokenError::Expired);
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> AckLinks {
        AckLinks::new(
            b"0123456789abcdef0123456789abcdef".to_vec(),
            chrono::Duration::hours(24),
            Some("https://klaxon.example.com/".into()),
        )
    }

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    #[test]
    fn a_token_acknowledges_its_alert_until_it_expires() {
        let l = links();
        let token = l.token(42, t(0));
        assert_eq!(l.verify(&token, t(3600)), Ok(42));
        assert_eq!(l.verify(&token, t(86_400)), Err(AckTokenError::Expired));
        let link = l.link(42, t(0)).unwrap();
        assert!(
            link.starts_with("https://klaxon.example.com/ack/42."),
            "{link}"
        );
    }

    #[test]
    fn forged_and_moved_tokens_are_refused() {
        let l = links();
        let token = l.token(42, t(0));
        let (_, rest) = token.split_once('.').unwrap();
        // Another alert's id with this signature.
        assert_eq!(
            l.verify(&format!("43.{rest}"), t(1)),
            Err(AckTokenError::Invalid)
        );
        // A later expiry.
        let mut parts: Vec<&str> = token.split('.').collect();
        let later = (t(0).timestamp() + 10 * 86_400).to_string();
        parts[1] = &later;
        assert_eq!(
            l.verify(&parts.join("."), t(1)),
            Err(AckTokenError::Invalid)
        );
        // Another key.
        let other = AckLinks::new(b"another key".to_vec(), chrono::Duration::hours(24), None);
        assert_eq!(other.verify(&token, t(1)), Err(AckTokenError::Invalid));
        for junk in [
            "",
            "42",
            "42.1",
            "+42.1.x",
            "042.1.x",
            "42.1.!!",
            "42.1.AAAA",
        ] {
            assert_eq!(l.verify(junk, t(1)), Err(AckTokenError::Invalid), "{junk}");
        }
        assert_eq!(other.link(1, t(0)), None, "no public_url, no link");
    }
}
