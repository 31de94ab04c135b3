//! The HTTP webhook sink: a signed JSON POST per message.
//!
//! Each delivery POSTs [`WebhookBody`] as JSON with two headers:
//!
//! * [`SIGNATURE_HEADER`] `X-Itsm-Signature: sha256=<hex>`: the lowercase
//!   hex HMAC-SHA256 of the exact body bytes under the shared secret. The
//!   body carries the message's identity, creation instant and attempt
//!   number, so the signature covers them; a receiver checks it with
//!   [`verify_signature`] before parsing the body.
//! * [`DELIVERY_HEADER`] `X-Itsm-Delivery: <tenant>/<topic>/<dedup_key>`:
//!   the message's idempotency id ([`crate::delivery_id`]), the same on
//!   every attempt; a receiver that saw it already should answer 2xx and
//!   do nothing.
//!
//! Answers: 2xx is delivered; 408, 429, 5xx, a timeout or a connection
//! error are retried; any other answer (4xx, a redirect, which is not
//! followed) refuses the message (a dead letter at once).

use std::time::Duration;

use hmac::{Hmac, Mac};
use itsm_core::Timestamp;
use itsm_store::OutboxItem;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::{DeliveryError, SetupError, Sink, delivery_id};

/// The signature header: `sha256=<hex HMAC-SHA256 of the body>`.
pub const SIGNATURE_HEADER: &str = "X-Itsm-Signature";

/// The idempotency header: [`crate::delivery_id`] of the message.
pub const DELIVERY_HEADER: &str = "X-Itsm-Delivery";

const NAME: &str = "webhook";

/// The JSON body of a webhook delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// The outbox message id (increasing in write order).
    pub id: i64,
    /// The tenant.
    pub tenant: String,
    /// The topic (`incident.resolved`, `escalation`, ...).
    pub topic: String,
    /// The deduplication key, unique per tenant and topic.
    pub dedup_key: String,
    /// The ordering key (`incident/INC-1`), if any: a receiver gets a
    /// stream's messages in order.
    pub stream: Option<String>,
    /// The message itself.
    pub payload: serde_json::Value,
    /// When the message was written.
    pub created_at: Timestamp,
    /// This delivery's attempt number, from 1.
    pub attempt: u32,
}

impl WebhookBody {
    /// The body of a delivery of `item`.
    pub fn of(item: &OutboxItem) -> WebhookBody {
        WebhookBody {
            id: item.id,
            tenant: item.tenant.clone(),
            topic: item.topic.clone(),
            dedup_key: item.dedup_key.clone(),
            stream: item.stream.clone(),
            payload: item.payload.clone(),
            created_at: item.created_at,
            attempt: item.attempts,
        }
    }
}

/// The [`SIGNATURE_HEADER`] value of `body` under `secret`:
/// `sha256=` and the lowercase hex HMAC-SHA256.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = new_mac(secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Whether `header` (a [`SIGNATURE_HEADER`] value) is the signature of
/// exactly these `body` bytes under `secret`. The comparison is constant
/// time; a malformed header is false.
pub fn verify_signature(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_sig) = header.trim().strip_prefix("sha256=") else { return false };
    let Ok(sig) = hex::decode(hex_sig) else { return false };
    let mut mac = new_mac(secret);
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

fn new_mac(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (a long one is hashed first).
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

/// Delivers messages by HTTP POST to one URL (see the module docs).
#[derive(Clone)]
pub struct WebhookSink {
    client: reqwest::Client,
    url: reqwest::Url,
    secret: Vec<u8>,
}

impl std::fmt::Debug for WebhookSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("WebhookSink").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

impl WebhookSink {
    /// A sink POSTing to `url` (http or https), signing with `secret`
    /// (non-empty), giving up on a request after `timeout` (connecting
    /// included).
    pub fn new(url: &str, secret: impl Into<Vec<u8>>, timeout: Duration) -> Result<WebhookSink, SetupError> {
        let invalid = |field, reason: String| SetupError::Invalid { sink: NAME, field, reason };
        let url = reqwest::Url::parse(url).map_err(|e| invalid("url", e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("url", format!("scheme {:?} is not http or https", url.scheme())));
        }
        let secret = secret.into();
        if secret.is_empty() {
            return Err(invalid("secret", "empty".to_owned()));
        }
        if timeout.is_zero() {
            return Err(invalid("timeout", "zero".to_owned()));
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("itsm-notify/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| invalid("client", e.to_string()))?;
        Ok(WebhookSink { client, url, secret })
    }

    /// The URL deliveries go to.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    fn error(item: &OutboxItem, retryable: bool, reason: String) -> DeliveryError {
        DeliveryError::of(NAME, item, retryable, reason)
    }
}

impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        NAME
    }

    #[tracing::instrument(name = "webhook_deliver", skip_all, fields(id = item.id, topic = %item.topic, attempt = item.attempts))]
    async fn deliver(&self, item: &OutboxItem) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(&WebhookBody::of(item))
            .map_err(|e| Self::error(item, false, format!("body not serializable: {e}")))?;
        let signature = sign(&self.secret, &body);
        let response = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, delivery_id(item))
            .body(body)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) if e.is_builder() => return Err(Self::error(item, false, format!("request: {e}"))),
            Err(e) => {
                let what = if e.is_timeout() { "timed out" } else { "request failed" };
                return Err(Self::error(item, true, format!("{what}: {e}")));
            }
        };
        let status = response.status();
        if status.is_success() {
            tracing::debug!(%status, "delivered");
            return Ok(());
        }
        let retryable = status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
        Err(Self::error(item, retryable, format!("HTTP {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let body = br#"{"id":1}"#;
        let sig = sign(b"secret", body);
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert!(verify_signature(b"secret", body, &sig));
        assert!(!verify_signature(b"secret", br#"{"id":2}"#, &sig));
        assert!(!verify_signature(b"other", body, &sig));
        assert!(!verify_signature(b"secret", body, "sha256=zz"));
        assert!(!verify_signature(b"secret", body, &sig[7..]));
        assert!(!verify_signature(b"secret", body, ""));
        // RFC 4231 test case 2.
        let rfc = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(rfc, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn bad_settings_are_refused() {
        let t = Duration::from_secs(1);
        assert!(WebhookSink::new("ftp://x", "s", t).is_err());
        assert!(WebhookSink::new("not a url", "s", t).is_err());
        assert!(WebhookSink::new("http://127.0.0.1:1/", "", t).is_err());
        assert!(WebhookSink::new("http://127.0.0.1:1/", "s", Duration::ZERO).is_err());
        let sink = WebhookSink::new("http://127.0.0.1:1/hook", "s", t).unwrap();
        assert!(!format!("{sink:?}").contains("\"s\""));
    }

    #[tokio::test]
    async fn an_unreachable_receiver_is_retryable() {
        let sink = WebhookSink::new("http://127.0.0.1:1/hook", "s", Duration::from_secs(2)).unwrap();
        let err = sink.deliver(&crate::tests::item("t1", "x", "k")).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
        assert_eq!((err.id(), err.sink()), (7, "webhook"));
    }
}
