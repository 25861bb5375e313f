//! Standard Webhooks signatures (SPEC §5.5): `webhook-signature: v1,<base64 HMAC-SHA256>` over
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the trigger's `whsec_` secret (base64 after the prefix).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::{ErrorCode, ValidationError};

/// The prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Bytes of key material in a secret Herald generates.
pub const GENERATED_SECRET_BYTES: usize = 24;

/// A webhook signing secret: `whsec_` and base64 key material.
#[derive(Clone)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    /// Never shows the secret (SPEC §10: secrets are never logged).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(…)")
    }
}

impl WebhookSecret {
    /// Parses a secret given in a trigger definition (field `target.secret`).
    ///
    /// # Errors
    /// `invalid_field` on `target.secret` when it lacks the prefix, is not base64 after it, or holds fewer than
    /// 16 bytes of key.
    pub fn parse(text: &str) -> Result<WebhookSecret, ValidationError> {
        let invalid = |rule: &str| {
            ValidationError::new(
                ErrorCode::InvalidField,
                Some("target.secret".to_owned()),
                format!("`target.secret` {rule}"),
            )
        };
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| invalid("must start with `whsec_`"))?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| invalid("must be `whsec_` followed by base64"))?;
        if key.len() < 16 {
            return Err(invalid("must hold at least 16 bytes of key"));
        }
        Ok(WebhookSecret {
            text: text.to_owned(),
            key,
        })
    }

    /// A new secret from `random` bytes (the caller draws them from a CSPRNG).
    pub fn from_random(random: [u8; GENERATED_SECRET_BYTES]) -> WebhookSecret {
        WebhookSecret {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(random)),
            key: random.to_vec(),
        }
    }

    /// The secret as the trigger's creator receives it, once.
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// The `webhook-signature` header value for a message.
    pub fn sign(&self, webhook_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
        // unwrap: HMAC accepts keys of any length.
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key length");
        mac.update(webhook_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp_secs.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (also Svix's documented vector), checked independently
    /// with Python's `hmac` module before being written here.
    #[test]
    fn signs_the_standard_webhooks_example() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let signature = secret.sign(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn the_signature_covers_id_timestamp_and_body() {
        let secret = WebhookSecret::from_random([7; GENERATED_SECRET_BYTES]);
        let base = secret.sign("msg_1", 100, b"{}");
        assert_ne!(base, secret.sign("msg_2", 100, b"{}"));
        assert_ne!(base, secret.sign("msg_1", 101, b"{}"));
        assert_ne!(base, secret.sign("msg_1", 100, b"{ }"));
    }

    #[test]
    fn a_generated_secret_parses_back_to_the_same_key() {
        let secret = WebhookSecret::from_random([42; GENERATED_SECRET_BYTES]);
        assert!(secret.expose().starts_with("whsec_"));
        let parsed = WebhookSecret::parse(secret.expose()).unwrap();
        assert_eq!(parsed.sign("m", 1, b"x"), secret.sign("m", 1, b"x"));
        assert_eq!(format!("{parsed:?}"), "WebhookSecret(…)");
    }

    #[test]
    fn malformed_secrets_name_the_field() {
        for bad in [
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_not base64!",
            "whsec_c2hvcnQ=",
        ] {
            let error = WebhookSecret::parse(bad).expect_err(bad);
            assert_eq!(error.field.as_deref(), Some("target.secret"), "{bad}");
            assert_eq!(error.code, ErrorCode::InvalidField);
        }
    }
}
