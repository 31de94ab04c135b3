//! A reference portal running on loopback over a demo-seeded SQLite store,
//! for the portal's API and browser tests.

use std::sync::Arc;
use std::time::Duration;

use itsm_examples::portal::auth::Users;
use itsm_examples::portal::seed::{SeedSize, Seeded, seed};
use itsm_examples::portal::{Portal, serve, wall_clock};
use serde_json::Value;

use super::Scratch;

/// A multi-threaded runtime for a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// A running portal: its base URL; dropped, it stops.
pub struct Running {
    /// The base URL (`http://127.0.0.1:PORT`).
    pub base: String,
    /// A client that does not follow redirects.
    pub client: reqwest::Client,
    /// The store the portal serves (a handle on the same database).
    pub store: itsm_store::Store,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: Scratch,
}

impl Running {
    /// Seeds a new store and serves it on a free port.
    pub async fn start() -> Running {
        let dir = Scratch::new("portal-api");
        let store = itsm_examples::db::open(&dir.path("portal.db"), false, itsm_examples::db::Existing::Append)
            .await
            .expect("open the store");
        let users = Users::demo().expect("the bundled users file parses");
        let clock = wall_clock();
        let seeded = seed(&store, &users, SeedSize { incidents: 30, changes: 6 }, clock()).await.expect("seed");
        assert!(matches!(seeded, Seeded::Filled { .. }), "an empty store is filled: {seeded:?}");
        let handle = store.clone();
        let mut portal = Portal::new(store, users, clock);
        portal.feed_poll = Duration::from_millis(200);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, Arc::new(portal), async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .expect("client");
        Running { base, client, store: handle, stop: Some(stop), server: Some(server), _dir: dir }
    }

    /// The URL of a path.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET with a demo bearer token (`demo-token-{token}`).
    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client.get(self.url(path)).bearer_auth(format!("demo-token-{token}"))
    }

    /// A POST of JSON with a demo bearer token.
    pub fn post(&self, path: &str, token: &str, body: &Value) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(format!("demo-token-{token}")).json(body)
    }

    /// Stops the server and waits for it (requests in flight finish).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            tokio::time::timeout(Duration::from_secs(10), server)
                .await
                .expect("the server stops within 10 s of the signal, live streams included")
                .expect("server task")
                .expect("server");
        }
    }
}
