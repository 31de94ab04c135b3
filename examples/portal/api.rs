//! The JSON API. Every handler authenticates ([`Authed`]), reads and writes
//! through the store with the request's actor (so the read permissions and
//! the command permissions of the library apply), and answers errors as
//! problem details ([`ApiError`]).

use std::collections::VecDeque;
use std::convert::Infallible;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::Stream;
use itsm_core::change::{EmergencyChange, NormalChange, StandardChange};
use itsm_core::id::{ActorId, GroupId, IncidentId, ServiceId, Text};
use itsm_core::incident::{Incident, IncidentCommand, OpenIncident, sla_events};
use itsm_core::problem::Problem;
use itsm_core::vocabulary::{DetectionSource, Impact, IncidentKind, Priority, Urgency};
use itsm_core::{Aggregate, AggregateKind, Context, Timestamp};
use itsm_store::query::{Cursor, ListQuery, Range, Sort, SortKey};
use itsm_store::{ExpectedVersion, FeedCursor, ProjectionRow, Request, Wake};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::Shared;
use super::auth::Authed;
use super::calendar::CalendarParams;
use super::openapi::{ApiDoc, Command, CommandProblems, ReadProblems};
use super::problem::ApiError;

/// The API's routes, and `/api/openapi.json`: the OpenAPI document generated
/// from the same list.
pub fn routes() -> Router<Shared> {
    let (router, doc) = OpenApiRouter::<Shared>::with_openapi(ApiDoc::openapi())
        .routes(routes!(session))
        .routes(routes!(open_incident))
        .routes(routes!(list))
        .routes(routes!(facets))
        .routes(routes!(search))
        .routes(routes!(feed))
        .routes(routes!(incident_clocks))
        .routes(routes!(change_calendar))
        .routes(routes!(conflicts))
        .routes(routes!(scorecard))
        .routes(routes!(load))
        .routes(routes!(history))
        .routes(routes!(command))
        .split_for_parts();
    let doc = std::sync::Arc::new(doc.to_pretty_json().unwrap_or_default());
    router.route(
        "/api/openapi.json",
        get(move || {
            let doc = doc.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned()) }
        }),
    )
}

/// `GET /api/session`: who the request is, and the CSRF token a script
/// sends back in `X-CSRF-Token` with a session cookie.
#[utoipa::path(get, path = "/api/session", tag = "meta", responses((status = 200, description = "who the request is, and the CSRF token for X-CSRF-Token", body = serde_json::Value), ReadProblems))]
async fn session(authed: Authed) -> Json<Value> {
    Json(json!({ "login": authed.login, "actor": authed.actor, "csrf": authed.csrf }))
}

/// The path segment of each kind (`/api/{segment}/{id}`).
pub fn segment(kind: AggregateKind) -> &'static str {
    match kind {
        AggregateKind::Incident => "incidents",
        AggregateKind::Problem => "problems",
        AggregateKind::StandardChange => "standard-changes",
        AggregateKind::NormalChange => "normal-changes",
        AggregateKind::EmergencyChange => "emergency-changes",
    }
}

/// Characters a record id cannot hold as they are in a URL path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// A record id as a URL path segment (percent-encoded; non-ASCII as UTF-8).
pub fn path_segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
}

/// The kind a path segment names ([`segment`] backwards).
pub fn kind_of(text: &str) -> Option<AggregateKind> {
    AggregateKind::ALL.iter().copied().find(|k| segment(*k) == text)
}

fn kind_of_segment(text: &str) -> Result<AggregateKind, ApiError> {
    kind_of(text).ok_or_else(|| ApiError::not_found(format!("no such collection: /api/{text}")))
}

/// Runs a generic function for the aggregate type of a kind.
macro_rules! by_kind {
    ($kind:expr, $f:ident ( $($arg:expr),* )) => {
        match $kind {
            AggregateKind::Incident => $f::<Incident>($($arg),*).await,
            AggregateKind::Problem => $f::<Problem>($($arg),*).await,
            AggregateKind::StandardChange => $f::<StandardChange>($($arg),*).await,
            AggregateKind::NormalChange => $f::<NormalChange>($($arg),*).await,
            AggregateKind::EmergencyChange => $f::<EmergencyChange>($($arg),*).await,
        }
    };
}

/// An aggregate's version as an entity tag.
pub fn etag(version: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// `If-Match: "N"` (or `N`) as the expected version; none: any version.
pub fn expected_version(headers: &HeaderMap) -> Result<ExpectedVersion, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else { return Ok(ExpectedVersion::Any) };
    let text = value.to_str().map_err(|_| ApiError::bad_request("If-Match is not text"))?.trim();
    let bare = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(text);
    bare.parse::<u64>()
        .ok()
        .filter(|v| *v > 0)
        .map(ExpectedVersion::Exact)
        .ok_or_else(|| ApiError::bad_request(format!("If-Match {text:?} is not a version (\"1\", \"2\"...)")))
}

/// The `Idempotency-Key` header.
pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get("idempotency-key")
        .map(|v| v.to_str().map_err(|_| ApiError::bad_request("Idempotency-Key is not text")))
        .transpose()
}

/// A recorded event as JSON.
#[derive(Debug, Serialize)]
pub struct EventView<E> {
    /// Global position.
    pub position: u64,
    /// The aggregate's version after it.
    pub version: u64,
    /// The event's name.
    pub name: &'static str,
    /// Who recorded it.
    pub actor: String,
    /// When it was recorded.
    pub recorded_at: Timestamp,
    /// The event.
    pub event: E,
}

fn event_views<A: Aggregate>(events: Vec<itsm_store::Recorded<A::Event>>) -> Vec<EventView<A::Event>> {
    events
        .into_iter()
        .map(|r| EventView {
            position: r.position,
            version: r.version,
            name: A::event_name(&r.event),
            actor: r.actor,
            recorded_at: r.recorded_at,
            event: r.event,
        })
        .collect()
}

/// Executes a command for the request's actor now; the answer carries the
/// new version as `ETag`.
pub async fn execute<A: Aggregate>(
    portal: &Shared,
    authed: &Authed,
    id: &str,
    command: &A::Command,
    expected: ExpectedVersion,
    key: Option<&str>,
) -> Result<Response, ApiError> {
    let name = A::command_name(command);
    let span = tracing::Span::current();
    span.record("command", name);
    span.record("aggregate", format!("{} {id}", A::KIND).as_str());
    let now = portal.now();
    let mut request = Request::new(Context::new(&authed.actor, now, &portal.config), id, command).if_version(expected);
    if let Some(key) = key {
        request = request.idempotency_key(key);
    }
    let done = portal.store.execute::<A>(request).await.map_err(|e| ApiError::from_exec(e, name))?;
    let status = if matches!(expected, ExpectedVersion::Absent) && !done.replayed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "kind": A::KIND,
        "id": done.aggregate_id,
        "version": done.version,
        "replayed": done.replayed,
        "status": done.state.summary().status,
        "events": event_views::<A>(done.events),
        "state": done.state,
    });
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::ETAG, etag(done.version));
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(&format!("/api/{}/{}", segment(A::KIND), path_segment(id)))
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("{what}: {e}")))
}

async fn command_of<A: Aggregate>(
    portal: &Shared,
    authed: &Authed,
    id: &str,
    body: &[u8],
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let command: A::Command = parse_json(body, &format!("a {} command", A::KIND))?;
    execute::<A>(portal, authed, id, &command, expected_version(headers)?, idempotency_key(headers)?).await
}

/// `POST /api/{kind}/{id}/commands`: the typed command JSON
/// (`{"command": "assign", "group": "service-desk"}`), with optional
/// `If-Match` and `Idempotency-Key`.
#[utoipa::path(post, path = "/api/{kind}/{id}/commands", tag = "commands", request_body = Command, params(("kind" = String, Path, description = "incidents, problems, standard-changes, normal-changes or emergency-changes"), ("id" = String, Path, description = "the aggregate id"), ("If-Match" = Option<String>, Header, description = "the version the client saw; a stale one is a 409 naming both versions"), ("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key gets the first answer"), ("X-CSRF-Token" = Option<String>, Header, description = "required with the session cookie")), responses((status = 200, description = "committed: the new version (ETag), status, events and state", body = serde_json::Value), ReadProblems, CommandProblems))]
async fn command(
    State(portal): State<Shared>,
    authed: Authed,
    Path((kind, id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authed.check_csrf_header(&headers)?;
    let kind = kind_of_segment(&kind)?;
    by_kind!(kind, command_of(&portal, &authed, &id, &body, &headers))
}

/// What `POST /api/incidents` takes: the incident's facts; the server
/// chooses its id.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewIncident {
    /// A short title.
    pub title: String,
    /// The affected service.
    pub service: String,
    /// Impact: `"1"` (high), `"2"` or `"3"` (low).
    #[schema(value_type = String, example = "2")]
    pub impact: Impact,
    /// Urgency: `"1"` (high), `"2"` or `"3"` (low).
    #[schema(value_type = String, example = "2")]
    pub urgency: Urgency,
    /// Production (default) or another kind.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "production")]
    pub kind: Option<IncidentKind>,
    /// Who detected it (default: a user).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "user")]
    pub source: Option<DetectionSource>,
}

impl NewIncident {
    /// The open command for a new id.
    pub fn command(&self, id: &str) -> Result<IncidentCommand, ApiError> {
        let bad = |field: &str, e: &dyn std::fmt::Display| ApiError::bad_request(format!("{field}: {e}"));
        Ok(IncidentCommand::Open(OpenIncident::new(
            IncidentId::new(id).map_err(|e| bad("id", &e))?,
            self.kind.unwrap_or(IncidentKind::Production),
            ServiceId::new(self.service.trim()).map_err(|e| bad("service", &e))?,
            Text::new(self.title.trim()).map_err(|e| bad("title", &e))?,
            self.impact,
            self.urgency,
            self.source.unwrap_or(DetectionSource::User),
        )))
    }
}

/// A new incident id.
pub fn new_incident_id() -> String {
    let uuid = uuid::Uuid::new_v4().simple().to_string();
    format!("INC-{}", &uuid[..12]).to_uppercase()
}

/// `POST /api/incidents`: opens an incident with a new id (201, `Location`).
#[utoipa::path(post, path = "/api/incidents", tag = "commands", request_body = NewIncident, params(("Idempotency-Key" = Option<String>, Header, description = "a retry with the same key names the same incident and gets the first answer"), ("X-CSRF-Token" = Option<String>, Header, description = "required with the session cookie")), responses((status = 201, description = "opened (Location, ETag: the version)", body = serde_json::Value), (status = 200, description = "a retry with the same Idempotency-Key: the first outcome", body = serde_json::Value), ReadProblems, CommandProblems))]
async fn open_incident(
    State(portal): State<Shared>,
    authed: Authed,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    authed.check_csrf_header(&headers)?;
    let new: NewIncident = parse_json(&body, "a new incident")?;
    let key = idempotency_key(&headers)?;
    // With an idempotency key, a retry must name the same incident: derive the id from the key.
    let id = match key {
        Some(key) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(format!("{}\0{key}", authed.actor.id).as_bytes());
            let hex: String = digest.iter().take(6).map(|b| format!("{b:02X}")).collect();
            format!("INC-{hex}")
        }
        None => new_incident_id(),
    };
    let command = new.command(&id)?;
    execute::<Incident>(&portal, &authed, &id, &command, ExpectedVersion::Absent, key).await
}

async fn load_of<A: Aggregate>(portal: &Shared, authed: &Authed, id: &str) -> Result<Response, ApiError> {
    let loaded = portal.store.load::<A>(&authed.actor, id).await?;
    let body = json!({
        "kind": A::KIND,
        "id": id,
        "version": loaded.version,
        "updated_at": loaded.updated_at,
        "status": loaded.state.summary().status,
        "state": loaded.state,
    });
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::ETAG, etag(loaded.version));
    Ok(response)
}

/// `GET /api/{kind}/{id}`: the state and version (`ETag`).
#[utoipa::path(get, path = "/api/{kind}/{id}", tag = "reads", params(("kind" = String, Path, description = "incidents, problems, standard-changes, normal-changes or emergency-changes"), ("id" = String, Path, description = "the aggregate id")), responses((status = 200, description = "the state, status and version (ETag)", body = serde_json::Value), ReadProblems))]
async fn load(
    State(portal): State<Shared>,
    authed: Authed,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind_of_segment(&kind)?;
    by_kind!(kind, load_of(&portal, &authed, &id))
}

async fn history_of<A: Aggregate>(portal: &Shared, authed: &Authed, id: &str) -> Result<Response, ApiError> {
    let events = portal.store.history::<A>(&authed.actor, id).await?;
    Ok(Json(json!({ "kind": A::KIND, "id": id, "events": event_views::<A>(events) })).into_response())
}

/// `GET /api/{kind}/{id}/history`: the events the actor may read.
#[utoipa::path(get, path = "/api/{kind}/{id}/history", tag = "reads", params(("kind" = String, Path, description = "incidents, problems, standard-changes, normal-changes or emergency-changes"), ("id" = String, Path, description = "the aggregate id")), responses((status = 200, description = "the events the actor may read, oldest first", body = serde_json::Value), ReadProblems))]
async fn history(
    State(portal): State<Shared>,
    authed: Authed,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let kind = kind_of_segment(&kind)?;
    by_kind!(kind, history_of(&portal, &authed, &id))
}

/// An incident's SLA clocks now, under the SLA policy and business calendar
/// the tenant's stored configuration had in force when the incident's current
/// cycle started: the versions the store computes its due instants and the
/// escalation runner its escalations from, so the page and the runner agree.
/// No clocks where no SLA applies (no version in force then).
pub async fn clocks_now(
    portal: &Shared,
    authed: &Authed,
    id: &str,
) -> Result<Vec<itsm_core::sla::TargetClock>, ApiError> {
    let history: Vec<_> =
        portal.store.history::<Incident>(&authed.actor, id).await?.into_iter().map(|r| r.event).collect();
    let events = sla_events(&history);
    let now = portal.now();
    let versions = portal.store.config_history(&authed.actor.tenant).await?;
    let Ok(Some(config)) = versions.clock_config_for(&events, now) else { return Ok(Vec::new()) };
    itsm_core::sla::clocks(&events, &config.policy.value, &config.calendar.value, now)
        .map_err(|e| ApiError::of_kind(itsm_store::ErrorKind::Internal, format!("clocks of incident {id}: {e}")))
}

/// `GET /api/incidents/{id}/clocks`: the SLA clocks as of now.
#[utoipa::path(get, path = "/api/incidents/{id}/clocks", tag = "reads", params(("id" = String, Path, description = "the aggregate id")), responses((status = 200, description = "the SLA clocks as of now: deadline, percent used, state", body = serde_json::Value), ReadProblems))]
async fn incident_clocks(
    State(portal): State<Shared>,
    authed: Authed,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let clocks = clocks_now(&portal, &authed, &id).await?;
    Ok(Json(json!({ "id": id, "now": portal.now(), "clocks": clocks })).into_response())
}

/// A list's query parameters; lists are comma-separated.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Kinds (`incident,problem,...`).
    pub kind: Option<String>,
    /// State names.
    pub status: Option<String>,
    /// Open work only (`true`) or closed only (`false`).
    pub open: Option<bool>,
    /// The service.
    pub service: Option<String>,
    /// Priorities (`P1,P2`).
    pub priority: Option<String>,
    /// The assignee.
    pub assignee: Option<String>,
    /// The group.
    pub group: Option<String>,
    /// The requester.
    pub requester: Option<String>,
    /// Major incidents only (`true`) or the others.
    pub major: Option<bool>,
    /// Opened at or after (RFC 3339).
    pub opened_from: Option<String>,
    /// Opened before.
    pub opened_to: Option<String>,
    /// Updated at or after.
    pub updated_from: Option<String>,
    /// Updated before.
    pub updated_to: Option<String>,
    /// With a due instant before (RFC 3339).
    pub due_before: Option<String>,
    /// Breached now.
    pub breached: Option<bool>,
    /// `opened`, `updated` (default), `priority` or `due`.
    pub sort: Option<String>,
    /// Largest first (default true for instants, false for priority and due).
    pub desc: Option<bool>,
    /// The cursor a previous page gave.
    pub cursor: Option<String>,
    /// Rows per page (default 50).
    pub limit: Option<u32>,
}

fn instant(field: &str, text: Option<&str>) -> Result<Option<Timestamp>, ApiError> {
    text.filter(|t| !t.is_empty())
        .map(|t| Timestamp::parse_rfc3339(t).map_err(|e| ApiError::bad_request(format!("{field}: {e}"))))
        .transpose()
}

fn list_of<T>(field: &str, text: Option<&str>, parse: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, ApiError> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| parse(t).ok_or_else(|| ApiError::bad_request(format!("{field}: unknown value {t:?}"))))
        .collect()
}

fn id_of<T>(
    field: &str,
    text: Option<&str>,
    make: impl Fn(&str) -> Result<T, itsm_core::id::IdError>,
) -> Result<Option<T>, ApiError> {
    text.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| make(t).map_err(|e| ApiError::bad_request(format!("{field}: {e}"))))
        .transpose()
}

impl ListParams {
    /// The store's query, at `now` for `breached`.
    pub fn query(&self, now: Timestamp) -> Result<ListQuery, ApiError> {
        let key = match self.sort.as_deref().unwrap_or("updated") {
            "opened" => SortKey::Opened,
            "updated" => SortKey::Updated,
            "priority" => SortKey::Priority,
            "due" => SortKey::Due,
            other => {
                return Err(ApiError::bad_request(format!(
                    "sort: unknown key {other:?} (opened, updated, priority, due)"
                )));
            }
        };
        let descending = self.desc.unwrap_or(matches!(key, SortKey::Opened | SortKey::Updated));
        Ok(ListQuery {
            kinds: list_of("kind", self.kind.as_deref(), AggregateKind::parse)?,
            statuses: list_of("status", self.status.as_deref(), |s| Some(s.to_owned()))?,
            open: self.open,
            service: id_of("service", self.service.as_deref(), |t| ServiceId::new(t))?,
            priorities: list_of("priority", self.priority.as_deref(), Priority::parse)?,
            assignee: id_of("assignee", self.assignee.as_deref(), |t| ActorId::new(t))?,
            group: id_of("group", self.group.as_deref(), |t| GroupId::new(t))?,
            requester: id_of("requester", self.requester.as_deref(), |t| ActorId::new(t))?,
            major: self.major,
            opened: Range {
                from: instant("opened_from", self.opened_from.as_deref())?,
                to: instant("opened_to", self.opened_to.as_deref())?,
            },
            updated: Range {
                from: instant("updated_from", self.updated_from.as_deref())?,
                to: instant("updated_to", self.updated_to.as_deref())?,
            },
            due_before: instant("due_before", self.due_before.as_deref())?,
            breached_by: self.breached.filter(|b| *b).map(|_| now),
            sort: Sort { key, descending },
        })
    }
}

/// A page of rows as JSON.
#[derive(Debug, Serialize)]
pub struct PageView {
    /// The rows.
    pub rows: Vec<ProjectionRow>,
    /// The next page's cursor.
    pub next: Option<String>,
}

/// One page of a list for the actor.
pub async fn list_page(portal: &Shared, authed: &Authed, params: &ListParams) -> Result<PageView, ApiError> {
    let query = params.query(portal.now())?;
    let cursor = params.cursor.as_deref().filter(|c| !c.is_empty()).map(Cursor::from_text);
    let page = portal.store.list(&authed.actor, &query, cursor.as_ref(), params.limit.unwrap_or(50)).await?;
    Ok(PageView { rows: page.rows, next: page.next.map(|c| c.as_str().to_owned()) })
}

/// `GET /api/items`: a page of incidents, problems and changes.
#[utoipa::path(get, path = "/api/items", tag = "reads", params(ListParams), responses((status = 200, description = "a page of rows and the cursor of the next page", body = serde_json::Value), ReadProblems))]
async fn list(
    State(portal): State<Shared>,
    authed: Authed,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    Ok(Json(list_page(&portal, &authed, &params).await?).into_response())
}

/// `GET /api/facets`: counts per kind and state, and per priority.
#[utoipa::path(get, path = "/api/facets", tag = "reads", params(ListParams), responses((status = 200, description = "counts per kind and state, and per priority, of the rows of the list", body = serde_json::Value), ReadProblems))]
async fn facets(
    State(portal): State<Shared>,
    authed: Authed,
    Query(params): Query<ListParams>,
) -> Result<Response, ApiError> {
    let query = params.query(portal.now())?;
    let facets = portal.store.facets(&authed.actor, &query).await?;
    let by_status: Vec<Value> = facets
        .by_status
        .iter()
        .map(|((kind, status), n)| json!({ "kind": kind, "status": status, "count": n }))
        .collect();
    let by_priority: Vec<Value> =
        facets.by_priority.iter().map(|(p, n)| json!({ "priority": p, "count": n })).collect();
    Ok(Json(json!({ "total": facets.total, "by_status": by_status, "by_priority": by_priority })).into_response())
}

/// Search parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// The words.
    pub q: String,
    /// At most this many rows (default 20).
    pub limit: Option<u32>,
}

/// `GET /api/search?q=...`: ranked matches the actor may read.
#[utoipa::path(get, path = "/api/search", tag = "reads", params(SearchParams), responses((status = 200, description = "ranked matches, and whether the search was exhaustive", body = serde_json::Value), ReadProblems))]
async fn search(
    State(portal): State<Shared>,
    authed: Authed,
    Query(params): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let found = portal.store.search(&authed.actor, &params.q, params.limit.unwrap_or(20)).await?;
    Ok(Json(json!({ "rows": found.rows, "exhaustive": found.exhaustive })).into_response())
}

/// Feed parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// Start after this cursor (`TX.POSITION`); the `Last-Event-ID` header
    /// wins when a browser reconnects. Default: from now on.
    pub after: Option<String>,
}

struct FeedState {
    portal: Shared,
    actor: itsm_core::Actor,
    cursor: FeedCursor,
    pending: VecDeque<itsm_store::FeedEvent>,
    signal: itsm_store::FeedSignal,
    stop: tokio::sync::watch::Receiver<bool>,
}

/// One feed event as a server-sent event (`event: itsm`, `id`: the cursor).
fn sse_event(e: &itsm_store::FeedEvent) -> SseEvent {
    let payload: Value = serde_json::from_str(&e.event.payload).unwrap_or(Value::Null);
    let data = json!({
        "cursor": e.cursor.to_string(),
        "position": e.event.position,
        "kind": e.event.kind,
        "id": e.event.aggregate_id,
        "version": e.event.version,
        "name": e.event.event_name,
        "actor": e.event.actor,
        "recorded_at": e.event.recorded_at,
        "event": payload,
    });
    SseEvent::default().event("itsm").id(e.cursor.to_string()).data(data.to_string())
}

/// The feed after `cursor` for `actor`, as server-sent events, until the
/// client goes away, the store closes or the portal stops.
pub fn feed_stream(
    portal: Shared,
    actor: itsm_core::Actor,
    cursor: FeedCursor,
) -> impl Stream<Item = Result<SseEvent, Infallible>> {
    let signal = portal.store.subscribe().with_poll_interval(portal.feed_poll);
    let stop = portal.stop.subscribe();
    let state = FeedState { portal, actor, cursor, pending: VecDeque::new(), signal, stop };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if *s.stop.borrow() {
                return None;
            }
            if let Some(e) = s.pending.pop_front() {
                return Some((Ok(sse_event(&e)), s));
            }
            match s.portal.store.events_after(&s.actor, s.cursor, 100).await {
                Ok(page) => {
                    s.cursor = page.next;
                    let more = page.more;
                    s.pending.extend(page.events);
                    if !s.pending.is_empty() || more {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "feed read failed; retrying after the poll interval"),
            }
            tokio::select! {
                wake = s.signal.wait() => if wake == Wake::Closed { return None },
                _ = s.stop.changed() => return None,
            }
        }
    })
}

/// `GET /api/feed`: live events as server-sent events.
#[utoipa::path(get, path = "/api/feed", tag = "live", params(FeedParams, ("Last-Event-ID" = Option<String>, Header, description = "resume after this cursor (a browser sends it on reconnect)")), responses((status = 200, description = "server-sent events named itsm; id: the cursor; data: the event as JSON", content_type = "text/event-stream", body = String), ReadProblems))]
async fn feed(
    State(portal): State<Shared>,
    authed: Authed,
    headers: HeaderMap,
    Query(params): Query<FeedParams>,
) -> Result<Response, ApiError> {
    let given = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_owned).or(params.after);
    let cursor = match given {
        Some(text) => text.parse::<FeedCursor>().map_err(|e| ApiError::bad_request(e.to_string()))?,
        None => portal.store.feed_head().await?,
    };
    let stream = feed_stream(portal.clone(), authed.actor.clone(), cursor);
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

/// `GET /api/calendar?service=&week=` (or `from=&to=`): a service's changes
/// whose windows touch the period, each with its conflicts, and the
/// service's blackouts in it.
#[utoipa::path(get, path = "/api/calendar", tag = "reads", params(CalendarParams), responses((status = 200, description = "the changes whose windows touch the period, each with its conflicts, and the blackouts", body = serde_json::Value), ReadProblems))]
async fn change_calendar(
    State(portal): State<Shared>,
    authed: Authed,
    Query(params): Query<CalendarParams>,
) -> Result<Response, ApiError> {
    Ok(Json(super::calendar::calendar(&portal, &authed, &params).await?).into_response())
}

/// `GET /api/conflicts?service=&week=` (or `from=&to=`): the open changes
/// of the period with at least one conflict.
#[utoipa::path(get, path = "/api/conflicts", tag = "reads", params(CalendarParams), responses((status = 200, description = "the open changes of the period with at least one conflict", body = serde_json::Value), ReadProblems))]
async fn conflicts(
    State(portal): State<Shared>,
    authed: Authed,
    Query(params): Query<CalendarParams>,
) -> Result<Response, ApiError> {
    let cal = super::calendar::calendar(&portal, &authed, &params).await?;
    let found: Vec<&super::calendar::Entry> = cal.conflicting().collect();
    Ok(Json(json!({ "service": cal.service, "from": cal.from, "to": cal.to, "conflicts": found })).into_response())
}

/// `GET /api/scorecard`: the tenant's scorecard for the last full quarter.
#[utoipa::path(get, path = "/api/scorecard", tag = "reads", responses((status = 200, description = "the maturity scorecard of the last full quarter", body = serde_json::Value), ReadProblems))]
async fn scorecard(State(portal): State<Shared>, authed: Authed) -> Result<Response, ApiError> {
    Ok(Json(super::score::scorecard(&portal, &authed).await?).into_response())
}
