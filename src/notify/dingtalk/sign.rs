//! DingTalk robot signing ("加签").

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use sha2::Sha256;

/// `url_encode(base64(hmac_sha256(key = secret, msg = "{timestamp_ms}\n{secret}")))`.
///
/// The result is already percent-encoded: append it to the query as is (encoding it again
/// is a classic bug that makes DingTalk reject the signature).
pub fn sign(secret: &str, timestamp_ms: i64) -> String {
    let string_to_sign = format!("{timestamp_ms}\n{secret}");
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(string_to_sign.as_bytes());
    let digest = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    // Base64 adds only `+`, `/` and `=` to alphanumerics; exactly those get encoded.
    utf8_percent_encode(&digest, NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_published_vector() {
        assert_eq!(
            sign("xxx", 1_720_063_700_033_000),
            "p7C%2BjdCVtGt77XXVBqP6I9ZzC8T0X9tv%2BWOduuQ53ZM%3D"
        );
    }

    #[test]
    fn depends_on_secret_and_time() {
        let a = sign("SECabc", 1_000);
        assert_ne!(a, sign("SECabd", 1_000));
        assert_ne!(a, sign("SECabc", 1_001));
        assert!(!a.contains(['+', '/', '=']), "{a}");
    }
}
