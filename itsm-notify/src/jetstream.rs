//! The NATS JetStream sink (feature `jetstream`): each message published to
//! `{prefix}.{tenant}.{topic}` with `Nats-Msg-Id` = [`crate::delivery_id`],
//! delivered when the stream acknowledges it. The server drops a message
//! whose id it saw within the stream's duplicate window and acknowledges it
//! as a duplicate, which counts as delivered: a message published again
//! after a lost acknowledgement is stored once.

use async_nats::jetstream::{self, context::Publish};
use itsm_store::OutboxItem;

use crate::{DeliveryError, SetupError, Sink, WebhookBody, delivery_id};

const NAME: &str = "jetstream";

/// Publishes messages to a JetStream stream (see the module docs). The body
/// is the webhook's JSON ([`WebhookBody`]); the stream must exist and take
/// the subjects `{prefix}.>`.
#[derive(Clone)]
pub struct JetStreamSink {
    context: jetstream::Context,
    prefix: String,
}

impl std::fmt::Debug for JetStreamSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamSink").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

/// Whether `token` is one or more valid subject tokens (no wildcard, no
/// whitespace, no empty token).
fn valid_tokens(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|t| !t.is_empty() && t != "*" && t != ">" && !t.chars().any(|c| c.is_whitespace() || c.is_control()))
}

impl JetStreamSink {
    /// A sink over a JetStream context, publishing under `prefix` (one or
    /// more subject tokens, no wildcards).
    pub fn new(context: jetstream::Context, prefix: &str) -> Result<JetStreamSink, SetupError> {
        if !valid_tokens(prefix) {
            return Err(SetupError::Invalid {
                sink: NAME,
                field: "prefix",
                reason: format!("{prefix:?} is not a subject"),
            });
        }
        Ok(JetStreamSink { context, prefix: prefix.to_owned() })
    }

    /// Connects to the NATS server at `url` (`nats://127.0.0.1:4222`).
    pub async fn connect(url: &str, prefix: &str) -> Result<JetStreamSink, SetupError> {
        let client = async_nats::connect(url).await.map_err(|e| SetupError::Connect {
            sink: NAME,
            target: url.to_owned(),
            reason: e.to_string(),
        })?;
        JetStreamSink::new(jetstream::new(client), prefix)
    }

    /// The subject a message is published to: `{prefix}.{tenant}.{topic}`.
    pub fn subject(&self, item: &OutboxItem) -> String {
        format!("{}.{}.{}", self.prefix, item.tenant, item.topic)
    }

    fn error(item: &OutboxItem, retryable: bool, reason: String) -> DeliveryError {
        DeliveryError::of(NAME, item, retryable, reason)
    }
}

impl Sink for JetStreamSink {
    fn name(&self) -> &'static str {
        NAME
    }

    #[tracing::instrument(name = "jetstream_deliver", skip_all, fields(id = item.id, topic = %item.topic, attempt = item.attempts))]
    async fn deliver(&self, item: &OutboxItem) -> Result<(), DeliveryError> {
        if !valid_tokens(&item.tenant) || !valid_tokens(&item.topic) {
            return Err(Self::error(item, false, format!("{:?} is not a subject", self.subject(item))));
        }
        let body = serde_json::to_vec(&WebhookBody::of(item))
            .map_err(|e| Self::error(item, false, format!("body not serializable: {e}")))?;
        let publish = Publish::build().message_id(delivery_id(item)).payload(body.into());
        let ack = self
            .context
            .send_publish(self.subject(item), publish)
            .await
            .map_err(|e| Self::error(item, true, format!("publish: {e}")))?
            .await
            .map_err(|e| Self::error(item, true, format!("publish ack: {e}")))?;
        tracing::debug!(stream = %ack.stream, sequence = ack.sequence, duplicate = ack.duplicate, "published");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_tokens;

    #[test]
    fn subjects_are_checked() {
        assert!(valid_tokens("itsm.notify"));
        assert!(valid_tokens("incident.resolved"));
        for bad in ["", "a..b", "a.*", ">", "a b", "a.", "x\n"] {
            assert!(!valid_tokens(bad), "{bad:?}");
        }
    }
}
