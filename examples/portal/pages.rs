//! Server-rendered pages (maud): the agent queue, the incident page (timeline,
//! live SLA clocks, the actions the actor's role and the incident's state
//! permit), other records (a problem with its incidents, a change), the
//! new-incident form, the breach-soon board and the scorecard. Forms carry
//! the session's CSRF token; live updates arrive as server-sent events from
//! `/api/feed` (a few lines of JavaScript refresh the view).

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum_extra::extract::cookie::CookieJar;
use itsm_core::change::{EmergencyChange, NormalChange, StandardChange};
use itsm_core::incident::{Incident, ResolutionCode};
use itsm_core::problem::Problem;
use itsm_core::sla::ClockState;
use itsm_core::vocabulary::{DetectionSource, HoldReason, Impact, ResolvedBy, SupportTier, Urgency};
use itsm_core::{Aggregate, AggregateKind, Timestamp};
use itsm_store::ExpectedVersion;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::{Map, Value};

use super::Shared;
use super::api::{self, ListParams, NewIncident};
use super::auth::{self, Authed};
use super::calendar::{self, CalendarParams};
use super::problem::ApiError;

/// The pages' routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/", get(queue))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/incidents/new", get(new_incident_form).post(new_incident))
        .route("/incidents/{id}", get(incident_page))
        .route("/incidents/{id}/act", post(incident_act))
        .route("/items/{kind}/{id}", get(item_page))
        .route("/items/{kind}/{id}/act", post(item_act))
        .route("/calendar", get(calendar_page))
        .route("/breach-soon", get(breach_soon))
        .route("/scorecard", get(scorecard))
}

/// A page's viewer: the request's identity, or (as the rejection) a redirect
/// to the login page.
pub struct Viewer(pub Authed);

impl axum::extract::FromRequestParts<Shared> for Viewer {
    type Rejection = Redirect;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, portal: &Shared) -> Result<Self, Redirect> {
        let jar = CookieJar::from_headers(&parts.headers);
        portal.auth.authenticate(&parts.headers, &jar).map(Viewer).ok_or_else(|| Redirect::to("/login"))
    }
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#111;background:#fff;line-height:1.4}
header{background:#1f3a5f;color:#fff;padding:.5rem 1rem;display:flex;gap:1rem;align-items:center;flex-wrap:wrap}
header a{color:#fff}
main{padding:1rem;max-width:72rem}
a{color:#0b4f9c}
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f5a623;outline-offset:2px}
table{border-collapse:collapse;width:100%}
th,td{border-bottom:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
.badge{padding:0 .4rem;border-radius:.3rem;background:#e8eef6}
.late{color:#a40000;font-weight:bold}
.paused{color:#5a4a00}
.error{background:#fde8e8;border:1px solid #a40000;padding:.5rem}
.live{background:#e8f6e8;padding:.3rem .5rem}
.live:empty{display:none}
.conflict{color:#a40000;font-weight:bold}
.blackout{background:#3a3a3a;color:#fff;padding:0 .3rem}
ul.day{list-style:none;padding:0;margin:0}
ul.day li{margin:.2rem 0}
.visually-hidden{position:absolute;left:-10000px;width:1px;height:1px;overflow:hidden}
.skip{position:absolute;left:-10000px}
.skip:focus{position:static;display:inline-block;padding:.3rem;background:#fff}
form.inline{display:inline-block;margin:.2rem .5rem .2rem 0;padding:.4rem;border:1px solid #ccc}
label{margin-right:.5rem}
";

/// The page frame: navigation, the live region, the content, and (with a
/// watched record) the live-update script.
fn layout(title: &str, who: Option<&Authed>, watch: Option<(&str, &str)>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · itsm portal" }
                @if let Some(token) = who.and_then(|w| w.csrf.as_deref()) {
                    meta name="csrf-token" content=(token);
                }
                style { (PreEscaped(STYLE)) }
            }
            body {
                a .skip href="#content" { "Skip to the content" }
                header {
                    strong { "itsm portal" }
                    @if let Some(who) = who {
                        nav aria-label="main" {
                            a href="/" { "Queue" } " · "
                            a href="/incidents/new" { "New incident" } " · "
                            a href="/breach-soon" { "Breach soon" } " · "
                            a href="/calendar" { "Change calendar" }
                            @if who.actor.roles.iter().any(|r| *r != itsm_core::Role::Requester) {
                                " · " a href="/scorecard" { "Scorecard" }
                            }
                        }
                        span { (who.login) " (" (who.actor.tenant) ")" }
                        form method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(who.csrf.as_deref().unwrap_or(""));
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main #content tabindex="-1" {
                    h1 { (title) }
                    @if who.is_some() {
                        p #live .live role="status" aria-live="polite" {}
                    }
                    (content)
                }
                @if who.is_some() {
                    (live_script(watch))
                }
            }
        }
    }
}

/// A JavaScript string literal of `text` that is safe inside a `<script>`
/// element: JSON-escaped, with `<`, `>` and `&` as Unicode escapes, so a
/// record id holding `</script>` cannot end the element.
fn script_string(text: &str) -> String {
    serde_json::to_string(text)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Listens to the event feed; when an event of the watched record (or, on a
/// list, any event) arrives, says so in the live region and refreshes.
fn live_script(watch: Option<(&str, &str)>) -> Markup {
    let (kind, id) = watch.unwrap_or(("", ""));
    let (kind, id) = (script_string(kind), script_string(id));
    let script = format!(
        "(function(){{var kind={kind},id={id};var es=new EventSource('/api/feed');\
         es.addEventListener('itsm',function(m){{var e=JSON.parse(m.data);\
         if(kind&&(e.kind!==kind||e.id!==id))return;\
         document.getElementById('live').textContent='Updated: '+e.name+' on '+e.id+' by '+e.actor;\
         es.close();setTimeout(function(){{location.reload()}},400);}});}})();"
    );
    html! { script { (PreEscaped(script)) } }
}

/// An error as a page.
fn error_page(who: Option<&Authed>, error: &ApiError) -> Response {
    error_page_back(who, error, "/")
}

/// An error as a page, with a link back to the record it concerns.
fn error_page_back(who: Option<&Authed>, error: &ApiError, back: &str) -> Response {
    let body = layout(
        error.title,
        who,
        None,
        html! {
            p .error role="alert" { (error.status.as_u16()) ": " (error.detail) }
            p { a href=(back) { @if back == "/" { "Back to the queue" } @else { "Back" } } }
        },
    );
    (error.status, body).into_response()
}

/// A clock's state in words.
fn clock_state(state: &ClockState) -> String {
    match state {
        ClockState::Running => "running".to_owned(),
        ClockState::Paused => "paused".to_owned(),
        ClockState::Met { at } => format!("met at {}", when(Some(*at))),
        ClockState::Breached { at } => format!("breached at {}", when(Some(*at))),
        ClockState::Cancelled { at } => format!("cancelled at {}", when(Some(*at))),
    }
}

fn when(t: Option<Timestamp>) -> String {
    t.map(|t| t.as_utc().format("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default()
}

/// The link to a record's page (the id percent-encoded as a path segment).
pub fn record_link(kind: AggregateKind, id: &str) -> String {
    let id = api::path_segment(id);
    match kind {
        AggregateKind::Incident => format!("/incidents/{id}"),
        other => format!("/items/{}/{id}", api::segment(other)),
    }
}

fn rows_table(rows: &[itsm_store::ProjectionRow]) -> Markup {
    html! {
        table {
            caption .visually-hidden { "Records" }
            thead { tr {
                th scope="col" { "Id" } th scope="col" { "Kind" } th scope="col" { "Title" } th scope="col" { "State" }
                th scope="col" { "Priority" } th scope="col" { "Group" } th scope="col" { "Assignee" }
                th scope="col" { "Updated" } th scope="col" { "Due" }
            } }
            tbody {
                @for row in rows {
                    tr {
                        td { a href=(record_link(row.kind, &row.id)) { (row.id) } }
                        td { (row.kind.as_str()) }
                        td { (row.title) @if row.major { " " span .badge { "major" } } }
                        td { (row.status) }
                        td { (row.priority.map(|p| p.as_str()).unwrap_or("")) }
                        td { (row.group.as_ref().map(|g| g.as_str()).unwrap_or("")) }
                        td { (row.assignee.as_ref().map(|a| a.as_str()).unwrap_or("")) }
                        td { (when(Some(row.updated_at))) }
                        td { (when(row.due_at)) }
                    }
                }
            }
        }
    }
}

/// `GET /`: the queue, with filters and paging.
async fn queue(State(portal): State<Shared>, Viewer(who): Viewer, Query(mut params): Query<ListParams>) -> Response {
    if params.open.is_none() && params.status.is_none() {
        params.open = Some(true);
    }
    let page = match api::list_page(&portal, &who, &params).await {
        Ok(page) => page,
        Err(e) => return error_page(Some(&who), &e),
    };
    let next = page.next.as_ref().map(|cursor| {
        let mut query: Vec<(&str, String)> = Vec::new();
        let mut add = |k: &'static str, v: &Option<String>| {
            if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
                query.push((k, v.clone()));
            }
        };
        add("kind", &params.kind);
        add("status", &params.status);
        add("priority", &params.priority);
        add("group", &params.group);
        add("assignee", &params.assignee);
        add("sort", &params.sort);
        query.push(("open", params.open.unwrap_or(true).to_string()));
        query.push(("cursor", cursor.clone()));
        format!("/?{}", serde_urlencoded::to_string(&query).unwrap_or_default())
    });
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let content = html! {
        form method="get" action="/" aria-label="filters" {
            label { "Group " input name="group" value=(value(&params.group)); }
            label { "Assignee " input name="assignee" value=(value(&params.assignee)); }
            label { "Priority " input name="priority" placeholder="P1,P2" value=(value(&params.priority)); }
            label { "State " input name="status" placeholder="new,assigned" value=(value(&params.status)); }
            label { "Sort "
                select name="sort" {
                    @for key in ["updated", "opened", "priority", "due"] {
                        option value=(key) selected[params.sort.as_deref() == Some(key)] { (key) }
                    }
                }
            }
            button type="submit" { "Filter" }
        }
        p { (page.rows.len()) " shown." }
        (rows_table(&page.rows))
        @if let Some(next) = &next { p { a href=(next) rel="next" { "Next page" } } }
    };
    layout("Queue", Some(&who), None, content).into_response()
}

/// `GET /login`.
async fn login_form(State(portal): State<Shared>) -> Markup {
    let logins: Vec<&str> = portal.auth.users().iter().map(|u| u.login.as_str()).collect();
    layout(
        "Log in",
        None,
        None,
        html! {
            form method="post" action="/login" {
                p { label for="login" { "Login" } br; input #login name="login" autocomplete="username" required; }
                p { label for="password" { "Password" } br; input #password name="password" type="password" autocomplete="current-password" required; }
                button type="submit" { "Log in" }
            }
            p { "Demo logins (password " code { "demo" } "): " (logins.join(", ")) }
        },
    )
}

/// The login form's fields.
#[derive(Debug, serde::Deserialize)]
struct LoginForm {
    login: String,
    password: String,
}

/// `POST /login`: a session cookie and a redirect to the queue.
async fn login(State(portal): State<Shared>, jar: CookieJar, Form(form): Form<LoginForm>) -> Response {
    match portal.auth.login(&form.login, &form.password) {
        Some(session) => (jar.add(auth::session_cookie(session)), Redirect::to("/")).into_response(),
        None => {
            let page = layout(
                "Log in",
                None,
                None,
                html! { p .error role="alert" { "Unknown login or wrong password." } p { a href="/login" { "Try again" } } },
            );
            (StatusCode::UNAUTHORIZED, page).into_response()
        }
    }
}

/// A form's CSRF field.
#[derive(Debug, serde::Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
async fn logout(
    State(portal): State<Shared>,
    Viewer(who): Viewer,
    jar: CookieJar,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = who.check_csrf(Some(&form.csrf)) {
        return error_page(Some(&who), &e);
    }
    if let Some(cookie) = jar.get(auth::SESSION_COOKIE) {
        portal.auth.logout(cookie.value());
    }
    (jar.remove(auth::SESSION_COOKIE), Redirect::to("/login")).into_response()
}

/// The text values of a domain enum, for a select.
macro_rules! choices {
    ($t:ty) => {
        || <$t>::ALL.iter().map(|v| (v.as_str(), choice_label(v.as_str(), &format!("{v:?}")))).collect()
    };
}

/// What a select shows for a value: the value, and its meaning when the
/// value is a level number (impact `1` is high).
fn choice_label(value: &str, name: &str) -> String {
    if value.bytes().all(|b| b.is_ascii_digit()) {
        format!("{value} ({})", name.to_lowercase())
    } else {
        value.replace('_', " ")
    }
}

fn select(name: &str, label: &str, options: fn() -> Vec<(&'static str, String)>) -> Markup {
    html! {
        label { (label) " "
            select name=(name) {
                @for (value, shown) in options() { option value=(value) { (shown) } }
            }
        }
    }
}

/// `GET /incidents/new`.
async fn new_incident_form(Viewer(who): Viewer) -> Response {
    let content = html! {
        form method="post" action="/incidents/new" {
            input type="hidden" name="csrf" value=(who.csrf.as_deref().unwrap_or(""));
            p { label for="title" { "Title" } br; input #title name="title" size="60" required; }
            p { label for="service" { "Service" } br; input #service name="service" required; }
            p { (select("impact", "Impact", choices!(Impact))) (select("urgency", "Urgency", choices!(Urgency))) }
            button type="submit" { "Open incident" }
        }
    };
    layout("New incident", Some(&who), None, content).into_response()
}

/// `POST /incidents/new`: opens the incident, then shows it.
async fn new_incident(
    State(portal): State<Shared>,
    Viewer(who): Viewer,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let result = async {
        who.check_csrf(form.get("csrf").map(String::as_str))?;
        let field = |name: &str| form.get(name).cloned().unwrap_or_default();
        let parse = |name: &str| -> Result<Value, ApiError> { Ok(Value::String(field(name))) };
        let new: NewIncident = serde_json::from_value(serde_json::json!({
            "title": field("title"), "service": field("service"),
            "impact": parse("impact")?, "urgency": parse("urgency")?, "source": DetectionSource::User,
        }))
        .map_err(|e| ApiError::bad_request(format!("new incident: {e}")))?;
        let id = api::new_incident_id();
        let command = new.command(&id)?;
        api::execute::<Incident>(&portal, &who, &id, &command, ExpectedVersion::Absent, None).await?;
        Ok::<_, ApiError>(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/incidents/{id}")).into_response(),
        Err(e) => error_page(Some(&who), &e),
    }
}

/// A form field of an action.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// Free text (an id, a reason).
    Text(&'static str, &'static str),
    /// Optional free text.
    OptionalText(&'static str, &'static str),
    /// Long text.
    Area(&'static str, &'static str),
    /// A checkbox (a boolean).
    Check(&'static str, &'static str),
    /// One of a domain enum's values.
    Choice(&'static str, &'static str, fn() -> Vec<(&'static str, String)>),
    /// A change window: start and end in UTC (`YYYY-MM-DD HH:MM`).
    Window(&'static str),
}

/// The incident commands the pages offer, with their fields (others are
/// API-only: impact records, cascades, alert correlation).
fn incident_action(command: &str) -> Option<&'static [Field]> {
    Some(match command {
        "acknowledge" | "start" | "resume" | "close" | "declare_major" => &[],
        "assign" => &[Field::Text("group", "Group"), Field::OptionalText("assignee", "Assignee")],
        "hold" => &[Field::Choice("reason", "Reason", choices!(HoldReason))],
        "resolve" => &[
            Field::Choice("code", "Resolution", choices!(ResolutionCode)),
            Field::Choice("resolved_by", "Resolved by", choices!(ResolvedBy)),
        ],
        "reopen" | "cancel" | "propose_major" | "decline_major" => &[Field::Text("reason", "Reason")],
        "reprioritize" => &[
            Field::Choice("impact", "Impact", choices!(Impact)),
            Field::Choice("urgency", "Urgency", choices!(Urgency)),
        ],
        "escalate_tier" => &[Field::Choice("tier", "Tier", choices!(SupportTier)), Field::Text("group", "Group")],
        "link_problem" => &[Field::Text("problem", "Problem id")],
        "link_change" => &[Field::Text("change", "Change id")],
        "add_note" => &[Field::Area("text", "Note"), Field::Check("public", "Public (the requester sees it)")],
        _ => return None,
    })
}

/// The change commands the pages offer (the same names on the three change
/// machines; creating, assessing, completing and reviewing are API-only).
fn change_action(command: &str) -> Option<&'static [Field]> {
    Some(match command {
        "submit" | "start" | "advance_stage" | "close" => &[],
        "cancel" => &[Field::Text("reason", "Reason")],
        "approve" => &[Field::Text("group", "Approving for group")],
        "reject" => &[Field::Text("group", "Group"), Field::Text("reason", "Reason")],
        "schedule" => &[
            Field::Window("window"),
            Field::OptionalText("override_reason", "Override reason (when the schedule asks for one)"),
        ],
        _ => return None,
    })
}

/// The form fields of a command of a kind the pages offer.
fn action_fields(kind: AggregateKind, command: &str) -> Option<&'static [Field]> {
    match kind {
        AggregateKind::Incident => incident_action(command),
        AggregateKind::StandardChange | AggregateKind::NormalChange | AggregateKind::EmergencyChange => {
            change_action(command)
        }
        AggregateKind::Problem => None,
    }
}

/// A machine's transition table.
fn transitions(kind: AggregateKind) -> &'static [itsm_core::machine::Transition] {
    match kind {
        AggregateKind::Incident => itsm_core::incident::TRANSITIONS,
        AggregateKind::Problem => itsm_core::problem::TRANSITIONS,
        AggregateKind::StandardChange => itsm_core::change::standard::TRANSITIONS,
        AggregateKind::NormalChange => itsm_core::change::normal::TRANSITIONS,
        AggregateKind::EmergencyChange => itsm_core::change::emergency::TRANSITIONS,
    }
}

/// The actions the record's state and the actor's permissions allow, once
/// each, with their fields.
fn offered_actions(
    portal: &Shared,
    who: &Authed,
    kind: AggregateKind,
    status: &str,
) -> Vec<(&'static str, &'static [Field])> {
    let mut offered: Vec<(&'static str, &'static [Field])> = Vec::new();
    for t in transitions(kind).iter().filter(|t| t.from == status) {
        if offered.iter().any(|(seen, _)| *seen == t.command)
            || !portal.config.permissions.permits(&who.actor, kind, t.command)
        {
            continue;
        }
        if let Some(fields) = action_fields(kind, t.command) {
            offered.push((t.command, fields));
        }
    }
    offered
}

/// Where a record's action forms post.
fn act_url(kind: AggregateKind, id: &str) -> String {
    format!("{}/act", record_link(kind, id))
}

fn action_form(url: &str, version: u64, csrf: &str, command: &str, fields: &[Field]) -> Markup {
    let label = command.replace('_', " ");
    html! {
        form .inline method="post" action=(url) aria-label=(label) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="command" value=(command);
            input type="hidden" name="version" value=(version);
            @for field in fields {
                @match field {
                    Field::Text(name, text) => label { (text) " " input name=(name) required; }
                    Field::OptionalText(name, text) => label { (text) " " input name=(name); }
                    Field::Area(name, text) => label { (text) " " textarea name=(name) rows="2" cols="40" required {} }
                    Field::Check(name, text) => label { input type="checkbox" name=(name); " " (text) }
                    Field::Choice(name, text, options) => label { (text) " "
                        select name=(name) { @for (value, shown) in options() { option value=(value) { (shown) } } }
                    }
                    Field::Window(name) => {
                        label { "Start (UTC) " input name=(format!("{name}_start")) placeholder="YYYY-MM-DD HH:MM" size="16" required; }
                        label { "End (UTC) " input name=(format!("{name}_end")) placeholder="YYYY-MM-DD HH:MM" size="16" required; }
                    }
                }
                " "
            }
            button type="submit" data-command=(command) { (label) }
        }
    }
}

/// `GET /incidents/{id}`: details, SLA clocks, the timeline and the actions.
async fn incident_page(State(portal): State<Shared>, Viewer(who): Viewer, Path(id): Path<String>) -> Response {
    let result = async {
        let loaded = portal.store.load::<Incident>(&who.actor, &id).await?;
        let history = portal.store.history::<Incident>(&who.actor, &id).await?;
        let clocks = api::clocks_now(&portal, &who, &id).await?;
        Ok::<_, ApiError>((loaded, history, clocks))
    }
    .await;
    let (loaded, history, clocks) = match result {
        Ok(found) => found,
        Err(e) => return error_page(Some(&who), &e),
    };
    let incident = &loaded.state;
    let status = incident.status().as_str();
    let actions = offered_actions(&portal, &who, AggregateKind::Incident, status);
    let csrf = who.csrf.clone().unwrap_or_default();
    let summary = incident.summary();
    let content = html! {
        p {
            span .badge #state { (status) } " · priority " strong { (incident.priority().as_str()) }
            " · service " (summary.service.as_ref().map(|s| s.as_str()).unwrap_or(""))
            " · group " (summary.group.as_ref().map(|g| g.as_str()).unwrap_or("none"))
            " · assignee " (summary.assignee.as_ref().map(|a| a.as_str()).unwrap_or("none"))
            " · version " (loaded.version)
        }
        h2 { "SLA clocks" }
        table #clocks {
            caption { "As of " (when(Some(portal.now()))) }
            thead { tr { th scope="col" { "Target" } th scope="col" { "Deadline" } th scope="col" { "Used" } th scope="col" { "State" } } }
            tbody {
                @for clock in &clocks {
                    tr {
                        td { (format!("{:?}", clock.target).to_lowercase()) " " (clock.cycle) }
                        td { (when(clock.deadline)) }
                        td .late[clock.percent >= 100] { (clock.percent) "%" }
                        td .paused[clock.state == ClockState::Paused] .late[matches!(clock.state, ClockState::Breached { .. })] {
                            (clock_state(&clock.state))
                        }
                    }
                }
            }
        }
        h2 { "Actions" }
        @if actions.is_empty() { p { "No action is open to you in this state." } }
        div #actions {
            @for (command, fields) in &actions {
                (action_form(&act_url(AggregateKind::Incident, &id), loaded.version, &csrf, command, fields))
            }
        }
        h2 { "Timeline" }
        ol #timeline {
            @for r in &history {
                li {
                    (when(Some(r.recorded_at))) " · " strong { (Incident::event_name(&r.event)) } " by " (r.actor)
                    @if let itsm_core::incident::IncidentEvent::NoteAdded { text, public, .. } = &r.event {
                        blockquote { (text) @if !public { " " span .badge { "private" } } }
                    }
                }
            }
        }
    };
    layout(&format!("Incident {id}: {}", incident.title()), Some(&who), Some(("incident", &id)), content)
        .into_response()
}

/// A UTC instant typed into a form: `YYYY-MM-DD HH:MM`, with `T` or a space,
/// optionally with seconds, or RFC 3339.
fn form_instant(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    let text = text.trim();
    if let Ok(t) = Timestamp::parse_rfc3339(text) {
        return Ok(t);
    }
    ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(text, f).ok())
        .and_then(|t| Timestamp::try_from_utc(t.and_utc()))
        .ok_or_else(|| {
            ApiError::bad_request(format!("{field}: {text:?} is not a UTC date and time (YYYY-MM-DD HH:MM)"))
        })
}

/// Executes a form's command on a record of type `A` (its fields become the
/// command's JSON), decided against the version the page showed.
async fn act_on<A: Aggregate>(
    portal: &Shared,
    who: &Authed,
    id: &str,
    form: &[(String, String)],
) -> Result<(), ApiError> {
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    who.check_csrf(field("csrf"))?;
    let command = field("command").unwrap_or_default();
    let fields =
        action_fields(A::KIND, command).ok_or_else(|| ApiError::bad_request(format!("unknown action {command:?}")))?;
    let version = field("version")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_request("the form's version is missing"))?;
    let mut json = Map::new();
    json.insert("command".into(), Value::String(command.to_owned()));
    for f in fields {
        match f {
            Field::Check(name, _) => {
                json.insert((*name).into(), Value::Bool(field(name).is_some()));
            }
            Field::OptionalText(name, _) => {
                if let Some(v) = field(name).map(str::trim).filter(|v| !v.is_empty()) {
                    json.insert((*name).into(), Value::String(v.to_owned()));
                }
            }
            Field::Text(name, _) | Field::Area(name, _) | Field::Choice(name, _, _) => {
                json.insert((*name).into(), Value::String(field(name).unwrap_or_default().trim().to_owned()));
            }
            Field::Window(name) => {
                let part = |end: &str| {
                    let key = format!("{name}_{end}");
                    form_instant(&key, field(&key).unwrap_or_default())
                };
                let (start, end) = (part("start")?, part("end")?);
                json.insert((*name).into(), serde_json::json!({ "start": start, "end": end }));
            }
        }
    }
    let command: A::Command =
        serde_json::from_value(Value::Object(json)).map_err(|e| ApiError::bad_request(format!("{command}: {e}")))?;
    api::execute::<A>(portal, who, id, &command, ExpectedVersion::Exact(version), None).await.map(|_| ())
}

/// An action's answer: back to the record, or the error with a link back.
fn acted(who: &Authed, kind: AggregateKind, id: &str, result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => Redirect::to(&record_link(kind, id)).into_response(),
        Err(e) => error_page_back(Some(who), &e, &record_link(kind, id)),
    }
}

/// `POST /incidents/{id}/act`: a form's command on an incident.
async fn incident_act(
    State(portal): State<Shared>,
    Viewer(who): Viewer,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let result = act_on::<Incident>(&portal, &who, &id, &form).await;
    acted(&who, AggregateKind::Incident, &id, result)
}

/// `POST /items/{kind}/{id}/act`: a form's command on a change.
async fn item_act(
    State(portal): State<Shared>,
    Viewer(who): Viewer,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let Some(kind) = api::kind_of(&kind) else {
        return error_page(Some(&who), &ApiError::not_found(format!("no such kind {kind}")));
    };
    let result = match kind {
        AggregateKind::Incident => act_on::<Incident>(&portal, &who, &id, &form).await,
        AggregateKind::Problem => act_on::<Problem>(&portal, &who, &id, &form).await,
        AggregateKind::StandardChange => act_on::<StandardChange>(&portal, &who, &id, &form).await,
        AggregateKind::NormalChange => act_on::<NormalChange>(&portal, &who, &id, &form).await,
        AggregateKind::EmergencyChange => act_on::<EmergencyChange>(&portal, &who, &id, &form).await,
    };
    acted(&who, kind, &id, result)
}

async fn item_of<A: Aggregate>(portal: &Shared, who: &Authed, id: &str) -> Result<Markup, ApiError> {
    let loaded = portal.store.load::<A>(&who.actor, id).await?;
    let history = portal.store.history::<A>(&who.actor, id).await?;
    let state = serde_json::to_value(&loaded.state).unwrap_or(Value::Null);
    let incidents: Vec<String> = state
        .get("incidents")
        .and_then(Value::as_array)
        .map(|ids| ids.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    let summary = loaded.state.summary();
    let conflicts = change_conflicts(portal, who, A::KIND, id, &summary).await?;
    let actions = offered_actions(portal, who, A::KIND, summary.status);
    let csrf = who.csrf.clone().unwrap_or_default();
    let week = |t: Timestamp| {
        let service = summary.service.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default();
        let query = [("service", service), ("week", t.as_utc().date_naive().to_string())];
        format!("/calendar?{}", serde_urlencoded::to_string(query).unwrap_or_default())
    };
    Ok(html! {
        p {
            span .badge #state { (summary.status) }
            @if let Some(service) = &summary.service { " · service " (service) }
            " · version " (loaded.version)
        }
        @if A::KIND != AggregateKind::Incident && A::KIND != AggregateKind::Problem {
            p #window {
                @match summary.window {
                    Some((start, end)) => {
                        "Window " (when(Some(start))) " to " (when(Some(end))) " · "
                        a href=(week(start)) { "see the week on the change calendar" }
                    }
                    None => "Not scheduled yet.",
                }
            }
            @if !conflicts.is_empty() {
                div #conflicts .error role="note" {
                    strong .conflict { "Conflicts" }
                    ul { @for c in &conflicts { li { (c) } } }
                }
            }
        }
        @if !incidents.is_empty() {
            h2 { "Incidents" }
            ul #incidents { @for i in &incidents { li { a href=(format!("/incidents/{i}")) { (i) } } } }
        }
        @if !actions.is_empty() {
            h2 { "Actions" }
            div #actions {
                @for (command, fields) in &actions {
                    (action_form(&act_url(A::KIND, id), loaded.version, &csrf, command, fields))
                }
            }
        }
        h2 { "Timeline" }
        ol #timeline {
            @for r in &history {
                li {
                    (when(Some(r.recorded_at))) " · " strong { (A::event_name(&r.event)) } " by " (r.actor)
                    @if let Some(detail) = event_detail(&r.event) { " · " (detail) }
                }
            }
        }
        details { summary { "State as JSON" } pre { (serde_json::to_string_pretty(&state).unwrap_or_default()) } }
    })
}

/// What a change's timeline shows of an event beyond its name: the window it
/// scheduled, the schedule conflicts it overrode and why, a reason given.
fn event_detail<E: serde::Serialize>(event: &E) -> Option<String> {
    let value = serde_json::to_value(event).ok()?;
    let body = value.as_object()?; // Events are internally tagged: their fields are at the top.
    let text = |v: &Value| v.as_str().and_then(|t| Timestamp::parse_rfc3339(t).ok());
    let mut parts = Vec::new();
    if let Some(window) = body.get("window") {
        parts.push(format!("window {} to {}", when(text(&window["start"])), when(text(&window["end"]))));
    }
    if let Some(overridden) = body.get("override") {
        let conflicts: Vec<itsm_core::change::schedule::Conflict> =
            serde_json::from_value(overridden["conflicts"].clone()).unwrap_or_default();
        let listed: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
        parts.push(format!(
            "overrode: {} (\"{}\")",
            listed.join("; "),
            overridden["reason"].as_str().unwrap_or_default()
        ));
    }
    if let Some(reason) = body.get("reason").and_then(Value::as_str) {
        parts.push(format!("reason: {reason}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// A scheduled, open change's conflicts with the other changes of its
/// service around its window and with the schedules in force.
async fn change_conflicts(
    portal: &Shared,
    who: &Authed,
    kind: AggregateKind,
    id: &str,
    summary: &itsm_core::Summary,
) -> Result<Vec<itsm_core::change::schedule::Conflict>, ApiError> {
    let (Some(service), Some((start, end)), false) = (&summary.service, summary.window, summary.terminal) else {
        return Ok(Vec::new());
    };
    // The change's own window, however long (the calendar's 92-day bound is for views).
    let to = end.max(start.plus_seconds(60).unwrap_or(end));
    let found = calendar::between(portal, who, service, start, to, &calendar::in_force_now(portal, who).await?).await?;
    Ok(found.into_iter().find(|e| e.row.kind == kind && e.row.id == id).map(|e| e.conflicts).unwrap_or_default())
}

/// `GET /items/{kind}/{id}`: a problem (with its incidents) or a change.
async fn item_page(
    State(portal): State<Shared>,
    Viewer(who): Viewer,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    let kind = match api::kind_of(&kind) {
        Some(kind) => kind,
        None => return error_page(Some(&who), &ApiError::not_found(format!("no such kind {kind}"))),
    };
    let content = match kind {
        AggregateKind::Incident => return Redirect::to(&format!("/incidents/{id}")).into_response(),
        AggregateKind::Problem => item_of::<Problem>(&portal, &who, &id).await,
        AggregateKind::StandardChange => item_of::<StandardChange>(&portal, &who, &id).await,
        AggregateKind::NormalChange => item_of::<NormalChange>(&portal, &who, &id).await,
        AggregateKind::EmergencyChange => item_of::<EmergencyChange>(&portal, &who, &id).await,
    };
    match content {
        Ok(content) => layout(
            &format!("{} {id}", kind.as_str().replace('_', " ")),
            Some(&who),
            Some((kind.as_str(), &id)),
            content,
        )
        .into_response(),
        Err(e) => error_page(Some(&who), &e),
    }
}

/// `GET /breach-soon`: open work due within four hours (or overdue), soonest first.
async fn breach_soon(State(portal): State<Shared>, Viewer(who): Viewer) -> Response {
    let soon = portal.now().plus_seconds(4 * 3600).unwrap_or_else(|| portal.now());
    let params = ListParams {
        open: Some(true),
        due_before: Some(soon.to_rfc3339()),
        sort: Some("due".into()),
        limit: Some(100),
        ..ListParams::default()
    };
    match api::list_page(&portal, &who, &params).await {
        Ok(page) => layout(
            "Breach soon",
            Some(&who),
            None,
            html! { p { "Open work with a deadline, warning or escalation before " (when(Some(soon))) "." } (rows_table(&page.rows)) },
        )
        .into_response(),
        Err(e) => error_page(Some(&who), &e),
    }
}

/// `GET /scorecard`: the metrics crate's HTML for the last full quarter.
async fn scorecard(State(portal): State<Shared>, Viewer(who): Viewer) -> Response {
    match super::score::scorecard(&portal, &who).await {
        Ok(card) => axum::response::Html(itsm_metrics::render::html(&card)).into_response(),
        Err(e) => error_page(Some(&who), &e),
    }
}

/// `GET /calendar`: a service's changes in a week, a row per day, with the
/// blackouts and each change's conflicts marked.
async fn calendar_page(
    State(portal): State<Shared>,
    Viewer(who): Viewer,
    Query(params): Query<CalendarParams>,
) -> Response {
    let params = CalendarParams { from: None, to: None, ..params };
    let cal = match calendar::calendar(&portal, &who, &params).await {
        Ok(cal) => cal,
        Err(e) => return error_page(Some(&who), &e),
    };
    let service = cal.service.as_ref().map(|s| s.as_str().to_owned()).unwrap_or_default();
    let monday = cal.from.as_utc().date_naive();
    let link = |days: i64| {
        let date = monday + chrono::Duration::days(days);
        let query = [("service", service.clone()), ("week", date.to_string())];
        format!("/calendar?{}", serde_urlencoded::to_string(query).unwrap_or_default())
    };
    let days: Vec<(chrono::NaiveDate, Timestamp, Timestamp)> = (0..7)
        .filter_map(|n| {
            let date = monday + chrono::Duration::days(n);
            let start = cal.from.plus_seconds(n * 86_400)?;
            Some((date, start, start.plus_seconds(86_400)?))
        })
        .collect();
    let hm = |t: Timestamp, day: Timestamp| {
        if t < day {
            "…".to_owned()
        } else if t.seconds_since(day) >= 86_400 {
            "24:00".to_owned()
        } else {
            t.as_utc().format("%H:%M").to_string()
        }
    };
    let content = html! {
        form method="get" action="/calendar" aria-label="calendar" {
            label { "Service "
                input name="service" list="services" value=(service);
                datalist #services { @for s in &cal.services { option value=(s) {} } }
            }
            label { "Week of " input name="week" type="date" value=(monday.to_string()); }
            button type="submit" { "Show" }
        }
        nav aria-label="weeks" { a href=(link(-7)) rel="prev" { "Previous week" } " · " a href=(link(7)) rel="next" { "Next week" } }
        @if cal.service.is_none() {
            p { "No service has a change schedule yet: give a service." }
        }
        table #week {
            caption { "Changes on " (service) ", week of " (monday) " (times in UTC)" }
            thead { tr { th scope="col" { "Day" } th scope="col" { "Blackouts and changes" } } }
            tbody {
                @for (date, start, end) in &days {
                    tr data-date=(date.to_string()) {
                        th scope="row" { (date.format("%a %e %b")) }
                        td { ul .day {
                            @for b in cal.blackouts.iter().filter(|b| b.start < *end && *start < b.end) {
                                li .blackout-day { span .blackout { "Blackout" } " " (hm(b.start, *start)) "–" (hm(b.end, *start)) ": " (b.reason) }
                            }
                            @for e in cal.changes.iter().filter(|e| e.row.window.is_some_and(|(s, t)| s < *end && *start < t)) {
                                @let (s, t) = e.row.window.unwrap_or((*start, *end));
                                li .change data-id=(e.row.id) {
                                    (hm(s, *start)) "–" (hm(t, *start)) " "
                                    a href=(record_link(e.row.kind, &e.row.id)) { (e.row.id) } " " (e.row.title)
                                    " " span .badge { (e.row.status) }
                                    @if !e.conflicts.is_empty() {
                                        " " span .conflict { "Conflict: " (e.conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")) }
                                    }
                                }
                            }
                        } }
                    }
                }
            }
        }
        h2 { "Conflicts this week" }
        @if cal.conflicting().next().is_none() { p { "None." } }
        ul #week-conflicts {
            @for e in cal.conflicting() {
                li { a href=(record_link(e.row.kind, &e.row.id)) { (e.row.id) } ": " (e.conflicts.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")) }
            }
        }
    };
    layout("Change calendar", Some(&who), None, content).into_response()
}
