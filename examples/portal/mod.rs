//! The reference portal: an HTTP JSON API and server-rendered pages over the
//! library, as a portal team would embed it (`cargo run --release --example
//! portal`).
//!
//! - [`auth`]: demo identities (a users file), bearer tokens, session cookies
//!   and CSRF tokens. A real portal replaces this module with its identity
//!   provider: everything else only needs an [`itsm_core::Actor`] per request.
//! - [`problem`]: the library's error classification
//!   ([`itsm_store::ErrorKind`]) as RFC 9457 `application/problem+json`.
//! - [`api`]: commands (with `If-Match` and `Idempotency-Key`), lists, search,
//!   facets, history, SLA clocks and the event feed as server-sent events.
//! - [`calendar`]: the change calendar of a service with each change's
//!   conflicts and the blackouts.
//! - [`openapi`]: the OpenAPI document generated from the API's handlers,
//!   served at `/api/openapi.json`.
//! - [`pages`]: the HTML pages (maud), with the same reads and commands.
//! - [`seed`]: the demo tenant written into an empty store.

pub mod api;
pub mod auth;
pub mod calendar;
pub mod openapi;
pub mod pages;
pub mod problem;
pub mod score;
pub mod seed;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use itsm_core::{DomainConfig, Timestamp};
use itsm_store::Store;
use tracing::Instrument;

/// Where the current instant comes from (the wall clock in the binary; a
/// fixed or stepped one in tests). The library never reads a clock itself.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The wall clock.
pub fn wall_clock() -> Clock {
    Arc::new(|| Timestamp::from_utc(chrono::Utc::now()))
}

/// How many of the rarest searched word's newest rows the portal's search
/// ranks ([`Store::with_search_candidates`]; the store's default is 1,000).
/// An interactive search box answers with the best of the most recent 250
/// matches of a common word, says that it did (`exhaustive: false`), and
/// costs a quarter of the database time: under the load test's mixed phase
/// on PostgreSQL, 596 requests/s against 246 with 1,000 (BENCHMARKS.md).
pub const SEARCH_CANDIDATES: usize = 250;

/// What every handler shares.
pub struct Portal {
    /// The store (SQLite or PostgreSQL).
    pub store: Store,
    /// The rules commands are decided under.
    pub config: DomainConfig,
    /// The demo identities and the live sessions.
    pub auth: auth::Auth,
    /// The current instant.
    pub clock: Clock,
    /// How long a server-sent-event stream waits for a commit before it
    /// reads the feed anyway.
    pub feed_poll: Duration,
    /// Set when the portal stops: live streams end, so a graceful shutdown
    /// does not wait for them.
    pub stop: tokio::sync::watch::Sender<bool>,
}

impl Portal {
    /// A portal over `store` with the default rules, its search bounded to
    /// [`SEARCH_CANDIDATES`]. SLA clocks follow each tenant's stored
    /// configuration ([`api::clocks_now`]).
    pub fn new(store: Store, users: auth::Users, clock: Clock) -> Portal {
        Portal {
            store: store.with_search_candidates(SEARCH_CANDIDATES),
            config: DomainConfig::default(),
            auth: auth::Auth::new(users),
            clock,
            feed_poll: Duration::from_secs(5),
            stop: tokio::sync::watch::Sender::new(false),
        }
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        (self.clock)()
    }
}

/// The shared state handlers receive.
pub type Shared = Arc<Portal>;

/// Every route: the JSON API under `/api`, the pages, and the probes.
pub fn router(portal: Shared) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(pages::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(middleware::from_fn(trace_request))
        .with_state(portal)
}

/// Ready when the database answers a read.
async fn readyz(State(portal): State<Shared>) -> Response {
    match portal.store.holds_records().await {
        Ok(_) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// A span per request (method, route, status); command handlers add the
/// command and the aggregate to it.
async fn trace_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| request.uri().path().to_owned(), |p| p.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        route = %route,
        status = tracing::field::Empty,
        command = tracing::field::Empty,
        aggregate = tracing::field::Empty,
    );
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    response
}

/// Serves the portal on `listener` until `shutdown` completes, then stops
/// accepting connections and waits for the requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    portal: Shared,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let stop = portal.stop.clone();
    let shutdown = async move {
        shutdown.await;
        stop.send_replace(true);
    };
    axum::serve(listener, router(portal)).with_graceful_shutdown(shutdown).await
}
