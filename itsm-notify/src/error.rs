//! Errors of delivery and of setting a sink up.

/// A failed delivery of one message by one sink: whether it may be retried,
/// and which message and sink it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// A transient failure (timeout, connection error, a 5xx, 408 or 429
    /// answer, no JetStream ack): the dispatcher retries after a backoff,
    /// up to its attempt limit.
    #[error("{sink}: message {id} ({topic}) not delivered, will retry: {reason}")]
    Retryable {
        /// The sink.
        sink: &'static str,
        /// The outbox message id.
        id: i64,
        /// Its topic.
        topic: String,
        /// What happened.
        reason: String,
    },
    /// The receiver refused the message (a 4xx answer other than 408 and
    /// 429, a subject JetStream cannot take): retrying cannot help, the
    /// message becomes a dead letter at once.
    #[error("{sink}: message {id} ({topic}) refused, no retry: {reason}")]
    Refused {
        /// The sink.
        sink: &'static str,
        /// The outbox message id.
        id: i64,
        /// Its topic.
        topic: String,
        /// What happened.
        reason: String,
    },
}

impl DeliveryError {
    /// The error `sink` reports for `item`: [`DeliveryError::Retryable`] or
    /// [`DeliveryError::Refused`].
    pub fn of(sink: &'static str, item: &itsm_store::OutboxItem, retryable: bool, reason: String) -> DeliveryError {
        let (id, topic) = (item.id, item.topic.clone());
        if retryable {
            DeliveryError::Retryable { sink, id, topic, reason }
        } else {
            DeliveryError::Refused { sink, id, topic, reason }
        }
    }

    /// Whether a later attempt may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DeliveryError::Retryable { .. })
    }

    /// The outbox message id.
    pub fn id(&self) -> i64 {
        match self {
            DeliveryError::Retryable { id, .. } | DeliveryError::Refused { id, .. } => *id,
        }
    }

    /// The sink's name.
    pub fn sink(&self) -> &'static str {
        match self {
            DeliveryError::Retryable { sink, .. } | DeliveryError::Refused { sink, .. } => sink,
        }
    }
}

/// A sink that could not be set up (a bad URL, an unreachable server).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The sink's configuration is invalid.
    #[error("{sink}: invalid {field}: {reason}")]
    Invalid {
        /// The sink.
        sink: &'static str,
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The sink's server could not be reached.
    #[error("{sink}: cannot connect to {target}: {reason}")]
    Connect {
        /// The sink.
        sink: &'static str,
        /// Where it tried to connect.
        target: String,
        /// Why it failed.
        reason: String,
    },
}
