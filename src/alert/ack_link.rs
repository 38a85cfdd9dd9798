//! Acknowledge links: `{public_url}/ack/{token}`, where the token names one alert, when
//! the link was made and when it expires, and carries an HMAC-SHA256 of the three under
//! Klaxon's key. A link made before the alert last started firing is for an earlier
//! incident and is refused (the server compares `issued` with the episode's start). Anyone holding the link
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

const CONTEXT: &[u8] = b"klaxon-ack-link-v2";

/// What a genuine, current token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckToken {
    pub alert_id: u64,
    /// When the link was made (Unix seconds): an alert that started firing again after
    /// that is a new incident the link was not sent about.
    pub issued: i64,
}

impl AckLinks {
    pub fn new(key: Vec<u8>, ttl: chrono::Duration, public_url: Option<String>) -> AckLinks {
        AckLinks {
            key,
            ttl,
            public_url: public_url.map(|u| u.trim_end_matches('/').to_string()),
        }
    }

    fn mac(&self, alert_id: u64, issued: i64, expires: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(CONTEXT);
        mac.update(&alert_id.to_be_bytes());
        mac.update(&issued.to_be_bytes());
        mac.update(&expires.to_be_bytes());
        mac
    }

    /// A token for `alert_id`, made at `now` and good until `now` + the link lifetime.
    pub fn token(&self, alert_id: u64, now: DateTime<Utc>) -> String {
        let issued = now.timestamp();
        let expires = now
            .checked_add_signed(self.ttl)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
            .timestamp();
        let sig = self.mac(alert_id, issued, expires).finalize().into_bytes();
        format!(
            "{alert_id}.{issued}.{expires}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
        )
    }

    /// The link for `alert_id`, when `server.public_url` is set.
    pub fn link(&self, alert_id: u64, now: DateTime<Utc>) -> Option<String> {
        let base = self.public_url.as_ref()?;
        Some(format!("{base}/ack/{}", self.token(alert_id, now)))
    }

    /// What a token says, if it is genuine and not expired at `now`. The signature is
    /// checked (in constant time) before anything in the token is trusted. Whether the
    /// alert still fires in the episode the link was made in is the caller's to check
    /// against [`AckToken::issued`].
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AckToken, AckTokenError> {
        let mut parts = token.splitn(4, '.');
        let (Some(id), Some(issued), Some(expires), Some(sig)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AckTokenError::Invalid);
        };
        let number = |s: &str| {
            let digits = s.strip_prefix('-').unwrap_or(s);
            (!digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<i64>().ok())
                .flatten()
        };
        let id: u64 = (!id.starts_with('-'))
            .then(|| number(id))
            .flatten()
            .and_then(|n| u64::try_from(n).ok())
            .ok_or(AckTokenError::Invalid)?;
        let (Some(issued), Some(expires)) = (number(issued), number(expires)) else {
            return Err(AckTokenError::Invalid);
        };
        let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| AckTokenError::Invalid)?;
        self.mac(id, issued, expires)
            .verify_slice(&sig)
            .map_err(|_| AckTokenError::Invalid)?;
        if now.timestamp() >= expires {
            return Err(AckTokenError::Expired);
        }
        Ok(AckToken {
            alert_id: id,
            issued,
        })
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
        let issued = t(0).timestamp();
        let expected = AckToken {
            alert_id: 42,
            issued,
        };
        assert_eq!(l.verify(&token, t(3600)), Ok(expected));
        assert_eq!(l.verify(&token, t(86_400)), Err(AckTokenError::Expired));
        let link = l.link(42, t(0)).unwrap();
        let prefix = format!("https://klaxon.example.com/ack/42.{issued}.");
        assert!(link.starts_with(&prefix), "{link}");
    }

    #[test]
    fn forged_and_moved_tokens_are_refused() {
        let l = links();
        let token = l.token(42, t(0));
        let (_, rest) = token.split_once('.').unwrap();
        // Another alert's id with this signature.
        let moved = format!("43.{rest}");
        assert_eq!(l.verify(&moved, t(1)), Err(AckTokenError::Invalid));
        // A later issue time (to pass for a newer episode) or a later expiry.
        for i in [1, 2] {
            let mut parts: Vec<&str> = token.split('.').collect();
            let later = (t(0).timestamp() + 10 * 86_400).to_string();
            parts[i] = &later;
            assert_eq!(
                l.verify(&parts.join("."), t(1)),
                Err(AckTokenError::Invalid)
            );
        }
        // Another key.
        let other = AckLinks::new(b"another key".to_vec(), chrono::Duration::hours(24), None);
        assert_eq!(other.verify(&token, t(1)), Err(AckTokenError::Invalid));
        for junk in [
            "",
            "42",
            "42.1.2",
            "+42.1.2.x",
            "-1.1.2.x",
            "42.1.2.!!",
            "42.1.2.AAAA",
        ] {
            assert_eq!(l.verify(junk, t(1)), Err(AckTokenError::Invalid), "{junk}");
        }
        assert_eq!(other.link(1, t(0)), None, "no public_url, no link");
    }
}
