//! Notification delivery for [`itsm_store`]: an outbox dispatcher with
//! pluggable sinks.
//!
//! A [`Dispatcher`] claims outbox messages from a [`Store`](itsm_store::Store)
//! ([`Store::claim`](itsm_store::Store::claim)), hands each to a [`Sink`],
//! and records the outcome: delivered ([`Store::ack`](itsm_store::Store::ack)),
//! failed with a retry instant (exponential backoff with full jitter), or a
//! dead letter ([`Store::fail`](itsm_store::Store::fail) without one) when
//! the sink refused it or it failed [`DispatchOptions::max_attempts`] times.
//! Dead letters are listed by [`Store::dead_letters`](itsm_store::Store::dead_letters).
//!
//! Guarantees:
//!
//! * **At least once**: a message is acknowledged only after its sink
//!   accepted it. A dispatcher that dies (or whose lease expires) between the
//!   sink's acceptance and the acknowledgement delivers it again, so a
//!   receiver sees a duplicate only after such a failure; every delivery
//!   carries the same [`delivery_id`] for it to deduplicate on.
//! * **Ordered per aggregate**: the store hands out the messages of one
//!   stream ([`OutboxItem::stream`](itsm_store::OutboxItem::stream): the
//!   aggregate a message is about) one at a time, in the order they were
//!   written; the next is handed out only when the previous one was
//!   delivered or became a dead letter (a dead letter leaves the order rather
//!   than block its stream forever). Messages of different streams go out
//!   concurrently ([`DispatchOptions::concurrency`]).
//!
//! Sinks: [`WebhookSink`] (HTTP POST of a JSON body signed with
//! HMAC-SHA256, see [`verify_signature`]) and, with the `jetstream` feature,
//! `JetStreamSink` (NATS JetStream, deduplicated by message id).
//!
//! Time is read through a [`Clock`] ([`SystemClock`] by default), so tests
//! can drive it; the store itself only takes instants.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use itsm_notify::{DispatchOptions, Dispatcher, WebhookSink};
//! use itsm_store::Store;
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Store::connect("sqlite:///var/lib/itsm/store.db").await?;
//! let sink = WebhookSink::new("https://hooks.example.com/itsm", b"shared secret".to_vec(), Duration::from_secs(10))?;
//! let options = DispatchOptions { max_attempts: 8, ..DispatchOptions::default() };
//! let dispatcher = Dispatcher::new(store, sink, "notify-1", options);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let task = tokio::spawn(async move {
//!     dispatcher.run(async move { let _ = stopped.await; }).await
//! });
//! // ... on shutdown: the batch in progress finishes, then `run` returns.
//! let _ = stop.send(());
//! let report = task.await?;
//! println!("delivered {}, dead letters {}", report.delivered, report.dead);
//! # Ok(())
//! # }
//! ```

mod dispatcher;
mod error;
#[cfg(feature = "jetstream")]
mod jetstream;
mod webhook;

pub use dispatcher::{DispatchOptions, DispatchReport, Dispatcher};
pub use error::{DeliveryError, SetupError};
pub use itsm_store::runner::{Clock, SystemClock};
#[cfg(feature = "jetstream")]
pub use jetstream::JetStreamSink;
pub use webhook::{DELIVERY_HEADER, SIGNATURE_HEADER, WebhookBody, WebhookSink, sign, verify_signature};

use itsm_store::OutboxItem;

/// Where a message goes: a sink delivers one claimed outbox message.
///
/// Return `Ok` only once the receiving side holds the message (the
/// dispatcher then acknowledges it). An error says whether a later attempt
/// may succeed ([`DeliveryError::is_retryable`]); a sink must not panic.
pub trait Sink: Send + Sync {
    /// A short name for logs and errors (`webhook`, `jetstream`).
    fn name(&self) -> &'static str;

    /// Delivers one message.
    fn deliver(&self, item: &OutboxItem) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

impl<S: Sink> Sink for std::sync::Arc<S> {
    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn deliver(&self, item: &OutboxItem) -> impl Future<Output = Result<(), DeliveryError>> + Send {
        (**self).deliver(item)
    }
}

/// The idempotency id of a message, the same on every delivery of it:
/// `{tenant}/{topic}/{dedup_key}`, each part percent-encoded (`%`, `/`,
/// and every byte outside visible ASCII) so that the id is one unambiguous
/// header value. Sent as [`DELIVERY_HEADER`] by the webhook and as
/// `Nats-Msg-Id` to JetStream.
pub fn delivery_id(item: &OutboxItem) -> String {
    let mut out = String::with_capacity(item.tenant.len() + item.topic.len() + item.dedup_key.len() + 2);
    for (i, part) in [&item.tenant, &item.topic, &item.dedup_key].into_iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        for &b in part.as_bytes() {
            if b.is_ascii_graphic() && b != b'%' && b != b'/' {
                out.push(char::from(b));
            } else {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

#[cfg(test)]
mod tests {
    use super::*;
    use itsm_core::Timestamp;

    pub(crate) fn item(tenant: &str, topic: &str, key: &str) -> OutboxItem {
        let t = Timestamp::from_unix_secs(1_767_225_600).unwrap();
        OutboxItem {
            id: 7,
            tenant: tenant.to_owned(),
            topic: topic.to_owned(),
            dedup_key: key.to_owned(),
            payload: serde_json::json!({ "a": 1 }),
            created_at: t,
            attempts: 1,
            lease_until: t,
            stream: None,
        }
    }

    #[test]
    fn delivery_ids_are_unambiguous_visible_ascii() {
        assert_eq!(
            delivery_id(&item("t1", "incident.resolved", "INC-1:resolved")),
            "t1/incident.resolved/INC-1:resolved"
        );
        assert_eq!(delivery_id(&item("t1", "a/b", "x y%\n\u{e9}")), "t1/a%2Fb/x%20y%25%0A%C3%A9");
        assert_ne!(delivery_id(&item("t1", "a/b", "c")), delivery_id(&item("t1", "a", "b/c")));
    }
}
