//! The reference portal over HTTP (a real listener on loopback, a demo-seeded
//! SQLite store): every problem status, version conflicts through
//! `If-Match`, idempotent retries, CSRF, read permissions and tenant
//! isolation, the live feed, and the probes.

mod common;

use std::time::Duration;

use common::portal::Running;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn problem(response: reqwest::Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status, "status of {}", response.url());
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("a problem body");
    assert_eq!(body["status"], json!(status.as_u16()));
    assert!(body["title"].is_string() && body["detail"].is_string(), "{body}");
    body
}

async fn body(response: reqwest::Response, status: StatusCode) -> Value {
    let url = response.url().clone();
    let got = response.status();
    let text = response.text().await.expect("body");
    assert_eq!(got, status, "{url}: {text}");
    serde_json::from_str(&text).expect("JSON body")
}

fn new_incident(title: &str) -> Value {
    json!({"title": title, "service": "payments", "impact": "2", "urgency": "2"})
}

#[test]
fn every_status_and_version_conflicts() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        // 401: no credentials, and a wrong token.
        problem(p.client.get(p.url("/api/items")).send().await.unwrap(), StatusCode::UNAUTHORIZED).await;
        problem(p.get("/api/items", "nobody-at-all").send().await.unwrap(), StatusCode::UNAUTHORIZED).await;

        // 201 with Location and ETag.
        let created = p.post("/api/incidents", "agent-1", &new_incident("card payments failing")).send().await.unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        assert_eq!(created.headers()["etag"], "\"1\"");
        let location = created.headers()["location"].to_str().unwrap().to_owned();
        let created = body(created, StatusCode::CREATED).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/api/incidents/{id}"));
        assert_eq!(created["events"][0]["name"], "opened");

        // 400: malformed JSON, an unknown command, a bad If-Match, a bad filter.
        let commands = format!("/api/incidents/{id}/commands");
        let bad =
            p.client.post(p.url(&commands)).bearer_auth("demo-token-agent-1").body("{not json").send().await.unwrap();
        problem(bad, StatusCode::BAD_REQUEST).await;
        problem(
            p.post(&commands, "agent-1", &json!({"command": "fly"})).send().await.unwrap(),
            StatusCode::BAD_REQUEST,
        )
        .await;
        let bad_version = p.post(&commands, "agent-1", &json!({"command": "start"})).header("if-match", "\"x\"").send();
        problem(bad_version.await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(p.get("/api/items?sort=sideways", "agent-1").send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        problem(p.get("/api/items?priority=P9", "agent-1").send().await.unwrap(), StatusCode::BAD_REQUEST).await;

        // 200 with the version the client read; then 409 naming both versions.
        let assign = json!({"command": "assign", "group": "service-desk"});
        let assigned = p.post(&commands, "agent-1", &assign).header("if-match", "\"1\"").send().await.unwrap();
        assert_eq!(assigned.headers()["etag"], "\"2\"");
        assert_eq!(body(assigned, StatusCode::OK).await["status"], "assigned");
        let stale = p.post(&commands, "agent-1", &json!({"command": "start"})).header("if-match", "\"1\"").send();
        let conflict = problem(stale.await.unwrap(), StatusCode::CONFLICT).await;
        assert_eq!((conflict["expected_version"].clone(), conflict["actual_version"].clone()), (json!(1), json!(2)));
        assert_eq!(conflict["command"], "start");

        // 404: a command on an incident the requester may not read, whatever the command: nothing of it shows.
        let major = p.post(&commands, "requester-1", &json!({"command": "declare_major"})).send().await.unwrap();
        problem(major, StatusCode::NOT_FOUND).await;
        let note = json!({"command": "add_note", "text": "me too", "public": true});
        problem(p.post(&commands, "requester-1", &note).send().await.unwrap(), StatusCode::NOT_FOUND).await;
        let loaded =
            body(p.get(&format!("/api/incidents/{id}"), "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(loaded["version"], 2, "the refused commands wrote nothing");
        // 403: on their own incident, a requester may not declare it major.
        let own = p.post("/api/incidents", "requester-1", &new_incident("my laptop")).send().await.unwrap();
        let own = body(own, StatusCode::CREATED).await;
        let own_commands = format!("/api/incidents/{}/commands", own["id"].as_str().unwrap());
        let major = p.post(&own_commands, "requester-1", &json!({"command": "declare_major"})).send().await.unwrap();
        let forbidden = problem(major, StatusCode::FORBIDDEN).await;
        assert_eq!(forbidden["command"], "declare_major");

        // 422: refused by the rules in this state, naming the state and the command.
        let resume = problem(
            p.post(&commands, "agent-1", &json!({"command": "resume"})).send().await.unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        assert_eq!(resume["command"], "resume");
        let detail = resume["detail"].as_str().unwrap();
        assert!(
            detail.contains("assigned") && detail.contains("resume"),
            "the detail names state and command: {detail}"
        );

        // 404: a missing record, an unknown collection.
        problem(p.get("/api/incidents/INC-NOPE", "agent-1").send().await.unwrap(), StatusCode::NOT_FOUND).await;
        problem(p.get("/api/gadgets/X-1", "agent-1").send().await.unwrap(), StatusCode::NOT_FOUND).await;

        // 409: opening an id that exists.
        let reopen = json!({"command": "open", "id": id, "kind": "production", "service": "payments",
                            "title": "again", "impact": "2", "urgency": "2", "source": "user"});
        problem(p.post(&commands, "agent-1", &reopen).send().await.unwrap(), StatusCode::CONFLICT).await;

        // The load answers the version as its ETag.
        let loaded = p.get(&format!("/api/incidents/{id}"), "agent-1").send().await.unwrap();
        assert_eq!(loaded.headers()["etag"], "\"2\"");
        p.stop().await;
    });
}

/// Opens an incident as agent-1; its id.
async fn open_incident(p: &Running, title: &str) -> String {
    let created = p.post("/api/incidents", "agent-1", &new_incident(title)).send().await.unwrap();
    body(created, StatusCode::CREATED).await["id"].as_str().unwrap().to_owned()
}

/// The response clock of `incident` as the portal shows it.
async fn response_clock(p: &Running, incident: &str) -> Value {
    let clocks = p.get(&format!("/api/incidents/{incident}/clocks"), "agent-1").send().await.unwrap();
    let clocks = body(clocks, StatusCode::OK).await;
    let response = clocks["clocks"].as_array().unwrap().iter().find(|c| c["target"] == "response").cloned();
    response.unwrap_or_else(|| panic!("no response clock: {clocks}"))
}

#[test]
fn clocks_follow_the_tenants_stored_sla_versions() {
    use itsm_core::sla::SlaPolicy;
    use itsm_core::time::BusinessDuration;
    use itsm_core::versioned::Versioned;
    use itsm_core::vocabulary::Priority;
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        let before = open_incident(&p, "opened under the seeded SLA").await;
        let seeded = response_clock(&p, &before).await;
        assert_eq!(seeded["priority"], "3", "impact 2 x urgency 2: {seeded}");
        let two_hours = serde_json::to_value(BusinessDuration::from_hours(2)).unwrap();
        assert_eq!(seeded["goal"], two_hours, "the seeded policy's P3 response target: {seeded}");

        // A second SLA version for the tenant, in force from now, answers P3 in 7 minutes.
        let tenant = itsm_core::id::TenantId::new("demo").unwrap();
        // The portal's clock is the wall clock; the version takes effect after the first incident opened.
        let now = itsm_core::Timestamp::from_utc(chrono::Utc::now());
        let mut policy = SlaPolicy { version: 2, ..SlaPolicy::default() };
        for entry in policy.targets.iter_mut().filter(|t| t.priority == Priority::P3) {
            entry.response = BusinessDuration::from_minutes(7);
        }
        p.store.add_config_version(&tenant, Versioned::new(2, now, policy), now).await.unwrap();

        let after = open_incident(&p, "opened under the second SLA version").await;
        let seven_minutes = serde_json::to_value(BusinessDuration::from_minutes(7)).unwrap();
        assert_eq!(response_clock(&p, &after).await["goal"], seven_minutes, "a new incident runs under version 2");
        assert_eq!(
            response_clock(&p, &before).await["goal"],
            two_hours,
            "an incident keeps the version in force when its cycle started"
        );
        p.stop().await;
    });
}

#[test]
fn idempotent_retries_and_csrf() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        // The same Idempotency-Key twice: one incident, the second answer replayed.
        let send = || {
            p.post("/api/incidents", "agent-1", &new_incident("disk full on db-7"))
                .header("idempotency-key", "hook-42")
                .send()
        };
        let first = body(send().await.unwrap(), StatusCode::CREATED).await;
        let second = body(send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(first["id"], second["id"]);
        assert_eq!((first["replayed"].clone(), second["replayed"].clone()), (json!(false), json!(true)));
        let id = first["id"].as_str().unwrap();
        let history =
            body(p.get(&format!("/api/incidents/{id}/history"), "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(history["events"].as_array().unwrap().len(), 1, "the retry wrote nothing");
        // The same key for another request: a conflict.
        let other =
            p.post("/api/incidents", "agent-1", &new_incident("something else")).header("idempotency-key", "hook-42");
        problem(other.send().await.unwrap(), StatusCode::CONFLICT).await;

        // A browser session: the login form sets an HttpOnly, SameSite cookie.
        let login =
            p.client.post(p.url("/login")).form(&[("login", "agent-1"), ("password", "demo")]).send().await.unwrap();
        assert_eq!(login.status(), StatusCode::SEE_OTHER);
        let cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
        let cookie = cookie.split(';').next().unwrap().to_owned();
        let wrong =
            p.client.post(p.url("/login")).form(&[("login", "agent-1"), ("password", "guess")]).send().await.unwrap();
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        let session =
            body(p.client.get(p.url("/api/session")).header("cookie", &cookie).send().await.unwrap(), StatusCode::OK)
                .await;
        let csrf = session["csrf"].as_str().unwrap().to_owned();
        // Without the token the command is refused (and nothing is written); with it, it runs.
        let commands = format!("/api/incidents/{id}/commands");
        let start = json!({"command": "assign", "group": "service-desk"});
        let no_token = p.client.post(p.url(&commands)).header("cookie", &cookie).json(&start).send().await.unwrap();
        problem(no_token, StatusCode::FORBIDDEN).await;
        let wrong_token =
            p.client.post(p.url(&commands)).header("cookie", &cookie).header("x-csrf-token", "0000").json(&start);
        problem(wrong_token.send().await.unwrap(), StatusCode::FORBIDDEN).await;
        let loaded =
            body(p.get(&format!("/api/incidents/{id}"), "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(loaded["version"], 1, "refused requests wrote nothing");
        let with = p.client.post(p.url(&commands)).header("cookie", &cookie).header("x-csrf-token", &csrf).json(&start);
        body(with.send().await.unwrap(), StatusCode::OK).await;
        // A form post without the token is refused too.
        let form = p.client.post(p.url(&format!("/incidents/{id}/act"))).header("cookie", &cookie);
        let form = form.form(&[("command", "start"), ("version", "2")]).send().await.unwrap();
        assert_eq!(form.status(), StatusCode::FORBIDDEN);
        let form = p.client.post(p.url(&format!("/incidents/{id}/act"))).header("cookie", &cookie);
        let form = form.form(&[("command", "start"), ("version", "2"), ("csrf", &csrf)]).send().await.unwrap();
        assert_eq!(form.status(), StatusCode::SEE_OTHER, "a form with its token runs and redirects to the incident");
        let loaded =
            body(p.get(&format!("/api/incidents/{id}"), "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(loaded["status"], "in_progress");
        // Logged out, the cookie no longer works.
        let out =
            p.client.post(p.url("/logout")).header("cookie", &cookie).form(&[("csrf", &csrf)]).send().await.unwrap();
        assert_eq!(out.status(), StatusCode::SEE_OTHER);
        problem(
            p.client.get(p.url("/api/session")).header("cookie", &cookie).send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
        )
        .await;
        p.stop().await;
    });
}

#[test]
fn read_permissions_and_tenant_isolation() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        // The seed: INC-DEMO-1 is requester-1's, with a public and a private note.
        let ids = |rows: &Value| -> Vec<String> {
            rows["rows"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect()
        };
        let mine =
            body(p.get("/api/items?kind=incident&limit=100", "requester-1").send().await.unwrap(), StatusCode::OK)
                .await;
        let mine_ids = ids(&mine);
        assert!(mine_ids.contains(&"INC-DEMO-1".to_owned()), "{mine_ids:?}");
        assert!(
            mine["rows"].as_array().unwrap().iter().all(|r| r["requester"] == "requester-1"),
            "only their own: {mine}"
        );
        problem(p.get("/api/incidents/INC-DEMO-2", "requester-1").send().await.unwrap(), StatusCode::NOT_FOUND).await;
        let notes = |history: &Value| -> Vec<String> {
            history["events"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e["name"] == "note_added")
                .map(|e| e["event"]["text"].as_str().unwrap().to_owned())
                .collect()
        };
        let as_requester =
            body(p.get("/api/incidents/INC-DEMO-1/history", "requester-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(
            notes(&as_requester),
            ["We are looking into the VPN concentrator."],
            "no private note for the requester"
        );
        let as_agent =
            body(p.get("/api/incidents/INC-DEMO-1/history", "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(notes(&as_agent).len(), 2, "the agent reads the private note too");
        let found = body(p.get("/api/search?q=firmware", "requester-1").send().await.unwrap(), StatusCode::OK).await;
        assert!(ids(&found).is_empty(), "a private note's words are not searchable by the requester: {found}");
        let found = body(p.get("/api/search?q=firmware", "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(ids(&found), ["INC-DEMO-1"]);

        // Another tenant sees none of it, by id, list, search or facets.
        problem(p.get("/api/incidents/INC-DEMO-1", "other-agent").send().await.unwrap(), StatusCode::NOT_FOUND).await;
        problem(p.get("/api/incidents/INC-DEMO-1/history", "other-agent").send().await.unwrap(), StatusCode::NOT_FOUND)
            .await;
        let theirs = body(p.get("/api/items?limit=100", "other-agent").send().await.unwrap(), StatusCode::OK).await;
        assert!(ids(&theirs).is_empty(), "{theirs}");
        let found = body(p.get("/api/search?q=vpn", "other-agent").send().await.unwrap(), StatusCode::OK).await;
        assert!(ids(&found).is_empty());
        let facets = body(p.get("/api/facets", "other-agent").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(facets["total"], 0);
        // Commands on another tenant's record: not found, nothing written.
        let cmd = p.post("/api/incidents/INC-DEMO-1/commands", "other-agent", &json!({"command": "start"}));
        problem(cmd.send().await.unwrap(), StatusCode::NOT_FOUND).await;
        let loaded = body(p.get("/api/incidents/INC-DEMO-1", "agent-1").send().await.unwrap(), StatusCode::OK).await;
        assert_eq!(loaded["status"], "assigned");

        // Facets agree with a list over the same filter.
        let facets =
            body(p.get("/api/facets?kind=incident&open=true", "agent-1").send().await.unwrap(), StatusCode::OK).await;
        let mut listed = 0;
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/items?kind=incident&open=true&limit=7&cursor={c}"),
                None => "/api/items?kind=incident&open=true&limit=7".to_owned(),
            };
            let page = body(p.get(&path, "agent-1").send().await.unwrap(), StatusCode::OK).await;
            listed += page["rows"].as_array().unwrap().len();
            match page["next"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(facets["total"], json!(listed));
        // The scorecard is tenant-wide: not for a requester.
        assert_eq!(p.get("/scorecard", "requester-1").send().await.unwrap().status(), StatusCode::FORBIDDEN);
        let card = p.get("/scorecard", "agent-1").send().await.unwrap();
        assert_eq!(card.status(), StatusCode::OK);
        assert!(card.text().await.unwrap().contains("first_change_failure_rate"), "the metrics crate's scorecard");
        p.stop().await;
    });
}

/// Reads server-sent events from a response until `want` matches one's data.
async fn next_event(response: &mut reqwest::Response, buffer: &mut String, want: impl Fn(&Value) -> bool) -> Value {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            let data: String = frame.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim).collect();
            if data.is_empty() {
                continue;
            }
            let value: Value = serde_json::from_str(&data).expect("event data is JSON");
            if want(&value) {
                return value;
            }
        }
        let chunk = response.chunk().await.expect("stream").expect("the stream stays open");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

#[test]
fn live_feed_and_probes() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        assert_eq!(p.client.get(p.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(p.client.get(p.url("/readyz")).send().await.unwrap().status(), StatusCode::OK);
        // Two live streams: an agent's and the other tenant's.
        let mut agent = p.get("/api/feed", "agent-1").send().await.unwrap();
        assert_eq!(agent.headers()["content-type"], "text/event-stream");
        let mut other = p.get("/api/feed", "other-agent").send().await.unwrap();
        let created = body(
            p.post("/api/incidents", "agent-1", &new_incident("live one")).send().await.unwrap(),
            StatusCode::CREATED,
        )
        .await;
        let id = created["id"].as_str().unwrap().to_owned();
        let mut buffer = String::new();
        let seen = tokio::time::timeout(
            Duration::from_secs(10),
            next_event(&mut agent, &mut buffer, |e| e["id"] == id.as_str()),
        )
        .await
        .expect("the event arrives live");
        assert_eq!(seen["name"], "opened");
        // The other tenant's stream gets nothing of it (its own event arrives first).
        let theirs = body(
            p.post("/api/incidents", "other-agent", &new_incident("their own")).send().await.unwrap(),
            StatusCode::CREATED,
        )
        .await;
        let mut other_buffer = String::new();
        let first = tokio::time::timeout(Duration::from_secs(10), next_event(&mut other, &mut other_buffer, |_| true))
            .await
            .expect("their event arrives");
        assert_eq!(first["id"], theirs["id"], "the first event another tenant sees is its own");
        // Resuming from a cursor (Last-Event-ID) replays what came after it.
        let cursor = seen["cursor"].as_str().unwrap();
        let mut resumed = p.get("/api/feed", "agent-1").header("last-event-id", cursor).send().await.unwrap();
        let cmd = p.post(&format!("/api/incidents/{id}/commands"), "agent-1", &json!({"command": "acknowledge"}));
        body(cmd.send().await.unwrap(), StatusCode::OK).await;
        let mut resumed_buffer = String::new();
        let next =
            tokio::time::timeout(Duration::from_secs(10), next_event(&mut resumed, &mut resumed_buffer, |_| true))
                .await
                .expect("the next event arrives");
        assert_eq!((next["id"].as_str(), next["name"].as_str()), (Some(id.as_str()), Some("acknowledged")));
        problem(p.get("/api/feed?after=zz", "agent-1").send().await.unwrap(), StatusCode::BAD_REQUEST).await;
        // Graceful shutdown with live streams open: they end, the server stops.
        p.stop().await;
    });
}

/// What the test expects the API to document: every route it serves.
const DOCUMENTED: &[(&str, &str)] = &[
    ("get", "/api/session"),
    ("post", "/api/incidents"),
    ("get", "/api/items"),
    ("get", "/api/facets"),
    ("get", "/api/search"),
    ("get", "/api/feed"),
    ("get", "/api/incidents/{id}/clocks"),
    ("get", "/api/calendar"),
    ("get", "/api/conflicts"),
    ("get", "/api/scorecard"),
    ("get", "/api/{kind}/{id}"),
    ("get", "/api/{kind}/{id}/history"),
    ("post", "/api/{kind}/{id}/commands"),
];

#[test]
fn openapi_document_covers_every_route() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        let doc = body(p.client.get(p.url("/api/openapi.json")).send().await.unwrap(), StatusCode::OK).await;
        assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")), "{}", doc["openapi"]);
        let paths = doc["paths"].as_object().expect("paths");
        let mut documented: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .into_iter()
                    .flat_map(|ops| ops.keys())
                    .filter(|m| ["get", "post", "put", "patch", "delete"].contains(&m.as_str()))
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        documented.sort();
        let mut expected: Vec<(String, String)> =
            DOCUMENTED.iter().map(|(m, path)| ((*m).to_owned(), (*path).to_owned())).collect();
        expected.sort();
        assert_eq!(documented, expected, "the document lists exactly the API's routes");

        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
        assert_eq!(schemes["session"]["in"], "cookie", "{schemes}");
        // A command documents its headers and every problem it can answer with.
        let command = &paths["/api/{kind}/{id}/commands"]["post"];
        let headers: Vec<&str> = command["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .filter(|p| p["in"] == "header")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for header in ["If-Match", "Idempotency-Key", "X-CSRF-Token"] {
            assert!(headers.contains(&header), "{header} in {headers:?}");
        }
        for status in ["200", "400", "401", "403", "404", "409", "422", "503"] {
            let response = &command["responses"][status];
            assert!(response.is_object(), "the command documents {status}: {}", command["responses"]);
            if status != "200" {
                assert!(response["content"]["application/problem+json"].is_object(), "{status}: {response}");
            }
        }
        let list_params: Vec<&str> = paths["/api/items"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for name in ["kind", "status", "priority", "sort", "cursor", "limit", "due_before"] {
            assert!(list_params.contains(&name), "{name} in {list_params:?}");
        }

        // Every documented read answers (no route the document names is missing from the router).
        for (_, path) in DOCUMENTED.iter().filter(|(m, _)| *m == "get") {
            let concrete = path.replace("{kind}", "incidents").replace("{id}", "INC-DEMO-1");
            let query = if *path == "/api/search" { "?q=vpn" } else { "" };
            let response = p.get(&format!("{concrete}{query}"), "incident-manager").send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "GET {concrete}{query}");
        }
        p.stop().await;
    });
}

#[test]
fn calendar_conflicts_across_a_business_service() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        let now = chrono::Utc::now();
        let calendar = |service: &'static str| {
            let period = [
                ("service", service.to_owned()),
                ("from", now.to_rfc3339()),
                ("to", (now + chrono::Duration::days(10)).to_rfc3339()),
            ];
            p.get("/api/calendar", "change-manager-1").query(&period).send()
        };
        let cal = body(calendar("vpn").await.unwrap(), StatusCode::OK).await;
        let demo2 = cal["changes"].as_array().unwrap().iter().find(|c| c["id"] == "CHG-DEMO-2").unwrap().clone();
        let shared = |c: &Value| c["conflict"] == "shared_business_service";
        assert!(!demo2["conflicts"].as_array().unwrap().iter().any(shared), "nothing else touches people yet: {demo2}");

        // The HR portal reaches its users through the VPN or the intranet (the simulated service model, stored
        // for the tenant by the seed): a standard change on the intranet inside CHG-DEMO-2's window on the VPN
        // puts the `people` business service at risk from both.
        let commands = "/api/standard-changes/CHG-INTRANET-1/commands";
        let spec = json!({"id": "CHG-INTRANET-1", "service": "intranet", "title": "patch the intranet proxy",
                          "strategy": {"kind": "big_bang"}});
        let create = json!({"command": "create", "spec": spec, "template": "os-patch"});
        body(p.post(commands, "change-manager-1", &create).send().await.unwrap(), StatusCode::OK).await;
        let window = json!({"start": demo2["window"][0], "end": demo2["window"][1]});
        let schedule = json!({"command": "schedule", "window": window});
        body(p.post(commands, "change-manager-1", &schedule).send().await.unwrap(), StatusCode::OK).await;

        let cal = body(calendar("vpn").await.unwrap(), StatusCode::OK).await;
        let demo2 = cal["changes"].as_array().unwrap().iter().find(|c| c["id"] == "CHG-DEMO-2").unwrap().clone();
        let found: Vec<&Value> = demo2["conflicts"].as_array().unwrap().iter().filter(|c| shared(c)).collect();
        assert_eq!(
            found,
            [&json!({"conflict": "shared_business_service", "other": "CHG-INTRANET-1",
                                   "business_service": "people"})],
            "{demo2}"
        );
        // And from the intranet's side.
        let cal = body(calendar("intranet").await.unwrap(), StatusCode::OK).await;
        let intranet = &cal["changes"][0];
        assert_eq!(intranet["id"], "CHG-INTRANET-1");
        let others: Vec<&str> =
            intranet["conflicts"].as_array().unwrap().iter().filter_map(|c| c["other"].as_str()).collect();
        assert!(others.contains(&"CHG-DEMO-2"), "{intranet}");
        // A change on a service of no shared business service does not conflict: payments is order-to-cash only.
        let cal = body(calendar("payments").await.unwrap(), StatusCode::OK).await;
        for change in cal["changes"].as_array().unwrap() {
            assert!(!change["conflicts"].as_array().unwrap().iter().any(shared), "{change}");
        }
        p.stop().await;
    });
}

#[test]
fn change_calendar_conflicts_and_blackout_override() {
    common::portal::runtime().block_on(async {
        let p = Running::start().await;
        let now = chrono::Utc::now();
        let period = |days: i64| {
            [
                ("service".to_owned(), "vpn".to_owned()),
                ("from".to_owned(), now.to_rfc3339()),
                ("to".to_owned(), (now + chrono::Duration::days(days)).to_rfc3339()),
            ]
        };
        let calendar = |who: &str, days: i64| p.get("/api/calendar", who).query(&period(days)).send();
        let cal = body(calendar("change-manager-1", 10).await.unwrap(), StatusCode::OK).await;
        let ids: Vec<&str> = cal["changes"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, ["CHG-DEMO-2", "CHG-DEMO-3"], "in window order; CHG-DEMO-1 is not scheduled: {cal}");
        for (this, other) in [(0, "CHG-DEMO-3"), (1, "CHG-DEMO-2")] {
            let conflicts = &cal["changes"][this]["conflicts"];
            assert!(
                conflicts.as_array().unwrap().iter().any(|c| c["conflict"] == "overlap" && c["other"] == other),
                "{conflicts}"
            );
        }
        let blackout = &cal["blackouts"][0];
        assert_eq!(blackout["reason"], "year-end freeze");
        // A requester reads no one else's changes; a tenant elsewhere sees nothing of vpn's.
        let theirs = body(calendar("requester-1", 10).await.unwrap(), StatusCode::OK).await;
        assert_eq!(theirs["changes"], json!([]), "{theirs}");
        let other = body(calendar("other-agent", 10).await.unwrap(), StatusCode::OK).await;
        assert_eq!(other["changes"], json!([]));
        assert_eq!(other["blackouts"], json!([]), "another tenant's schedule does not show: {other}");

        // Into the freeze: refused until an override reason is given, then marked.
        let start = chrono::DateTime::parse_from_rfc3339(blackout["start"].as_str().unwrap()).unwrap();
        let window = json!({"start": (start + chrono::Duration::hours(1)).to_rfc3339(),
                            "end": (start + chrono::Duration::hours(3)).to_rfc3339()});
        let schedule = "/api/normal-changes/CHG-DEMO-1/commands";
        let refused = problem(
            p.post(schedule, "change-manager-1", &json!({"command": "schedule", "window": window}))
                .send()
                .await
                .unwrap(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
        let detail = refused["detail"].as_str().unwrap();
        assert!(detail.contains("in a blackout of vpn (year-end freeze)") && detail.contains("authorized"), "{detail}");
        assert_eq!(refused["command"], "schedule");
        let scheduled = body(
            p.post(
                schedule,
                "change-manager-1",
                &json!({"command": "schedule", "window": window, "override_reason": "security fix"}),
            )
            .send()
            .await
            .unwrap(),
            StatusCode::OK,
        )
        .await;
        assert_eq!(scheduled["status"], "scheduled");
        let conflicts =
            body(p.get("/api/conflicts", "change-manager-1").query(&period(10)).send().await.unwrap(), StatusCode::OK)
                .await;
        let mine = conflicts["conflicts"].as_array().unwrap().iter().find(|c| c["id"] == "CHG-DEMO-1").cloned();
        let mine = mine.unwrap_or_else(|| panic!("CHG-DEMO-1 is listed with its conflict: {conflicts}"));
        assert_eq!(
            mine["conflicts"],
            json!([{"conflict": "in_blackout", "service": "vpn", "reason": "year-end freeze"}])
        );

        // Bad periods are 400s naming the parameter.
        for (query, named) in [
            ("week=someday", "week"),
            ("week=0999-12-31", "week"),
            ("from=2026-01-01T00:00:00Z", "from and to"),
            ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", "to must be after from"),
            ("from=2026-01-01T00:00:00Z&to=2026-06-01T00:00:00Z", "92 days"),
        ] {
            let bad = problem(
                p.get(&format!("/api/calendar?{query}"), "change-manager-1").send().await.unwrap(),
                StatusCode::BAD_REQUEST,
            )
            .await;
            assert!(bad["detail"].as_str().unwrap().contains(named), "{query}: {bad}");
        }

        // A change just before the period still counts against a window crossing into it.
        let demo2 = cal["changes"][0]["window"].clone();
        let demo2_start = chrono::DateTime::parse_from_rfc3339(demo2[0].as_str().unwrap()).unwrap();
        let before = json!({"start": (demo2_start - chrono::Duration::hours(1)).to_rfc3339(),
                            "end": (demo2_start + chrono::Duration::minutes(30)).to_rfc3339()});
        let moved = p
            .post(schedule, "change-manager-1", &json!({"command": "schedule", "window": before}))
            .send()
            .await
            .unwrap();
        body(moved, StatusCode::OK).await;
        let later = [
            ("service".to_owned(), "vpn".to_owned()),
            ("from".to_owned(), (demo2_start + chrono::Duration::hours(1)).to_rfc3339()),
            ("to".to_owned(), (demo2_start + chrono::Duration::days(2)).to_rfc3339()),
        ];
        let cal2 = body(p.get("/api/calendar", "change-manager-1").query(&later).send().await.unwrap(), StatusCode::OK).await;
        let ids: Vec<&str> = cal2["changes"].as_array().unwrap().iter().filter_map(|c| c["id"].as_str()).collect();
        assert_eq!(ids, ["CHG-DEMO-2", "CHG-DEMO-3"], "CHG-DEMO-1 ended before the period: {cal2}");
        assert!(
            cal2["changes"][0]["conflicts"].as_array().unwrap().iter().any(|c| c["other"] == "CHG-DEMO-1"),
            "CHG-DEMO-2 overlaps CHG-DEMO-1 outside the period: {cal2}"
        );

        // A long window: its change page still shows (the view's 92-day bound is not the page's).
        let long = json!({"start": (start + chrono::Duration::days(30)).to_rfc3339(),
                          "end": (start + chrono::Duration::days(150)).to_rfc3339()});
        let moved = p
            .post(schedule, "change-manager-1", &json!({"command": "schedule", "window": long, "override_reason": "x"}))
            .send()
            .await
            .unwrap();
        body(moved, StatusCode::OK).await;
        let page = p.get("/items/normal-changes/CHG-DEMO-1", "change-manager-1").send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);

        // A record id cannot end the page's script element.
        let evil = "CHG-X</script><script>alert(1)</script>";
        let created = p
            .post(
                &format!("/api/normal-changes/{}/commands", evil.replace('<', "%3C").replace('>', "%3E").replace('/', "%2F")),
                "change-manager-1",
                &json!({"command": "create", "id": evil, "service": "vpn", "title": "evil", "strategy": {"kind": "big_bang"}}),
            )
            .send()
            .await
            .unwrap();
        let status = created.status();
        let text = created.text().await.unwrap();
        if status == StatusCode::CREATED || status == StatusCode::OK {
            let page = p
                .get(&format!("/items/normal-changes/{}", evil.replace('<', "%3C").replace('>', "%3E").replace('/', "%2F")), "change-manager-1")
                .send()
                .await
                .unwrap();
            let html = page.text().await.unwrap();
            assert!(!html.contains("</script><script>alert(1)"), "the id is escaped in the page's script");
            assert!(html.contains("CHG-X\\u003c/script\\u003e"), "the id reaches the script escaped");
            assert!(
                html.contains("action=\"/items/normal-changes/CHG-X%3C%2Fscript%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E/act\""),
                "links carry the id percent-encoded"
            );
        } else {
            panic!("creating the change with an awkward id: {status} {text}");
        }
        p.stop().await;
    });
}
