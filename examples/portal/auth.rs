//! Demo authentication: identities from a users file, bearer tokens for API
//! clients, and session cookies (HttpOnly, SameSite=Strict) with a CSRF token
//! per session for browsers.
//!
//! **This is where a real portal plugs in its identity provider** (OIDC,
//! SAML, a reverse proxy's headers): replace [`Auth::authenticate`] with one
//! that turns the request's credentials into an [`Actor`] (id, tenant, roles,
//! groups). Nothing else in the portal knows how a person logged in.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use itsm_core::Actor;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::Shared;
use super::problem::ApiError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "itsm_session";
/// The header an API call with a session cookie carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// One demo identity.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// What the login form takes.
    pub login: String,
    /// The demo password (a real portal never holds passwords: see the
    /// module docs).
    pub password: String,
    /// A bearer token for API clients.
    pub token: String,
    /// Who this is in the library: id, tenant, roles, groups.
    pub actor: Actor,
}

/// The users file: `{"users": [{"login", "password", "token", "actor"}]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Users {
    /// The identities.
    pub users: Vec<User>,
}

/// Why a users file was refused.
#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    /// The file could not be read.
    #[error("cannot read users file {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a users file.
    #[error("users file {path} is invalid: {source}")]
    Parse {
        /// The path.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// Two users share a login or a token, or one has an empty secret.
    #[error("users file {path}: {reason}")]
    Invalid {
        /// The path.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl Users {
    /// Parses and checks a users file's text (`path` names it in errors).
    pub fn parse(text: &str, path: &str) -> Result<Users, UsersError> {
        let users: Users =
            serde_json::from_str(text).map_err(|source| UsersError::Parse { path: path.to_owned(), source })?;
        let invalid = |reason: String| UsersError::Invalid { path: path.to_owned(), reason };
        let mut logins = std::collections::HashSet::new();
        let mut tokens = std::collections::HashSet::new();
        for user in &users.users {
            if user.password.is_empty() || user.token.len() < 16 {
                return Err(invalid(format!(
                    "user {} needs a password and a token of 16 characters or more",
                    user.login
                )));
            }
            if !logins.insert(user.login.as_str()) {
                return Err(invalid(format!("login {} appears twice", user.login)));
            }
            if !tokens.insert(user.token.as_str()) {
                return Err(invalid(format!("user {}'s token is another user's too", user.login)));
            }
        }
        Ok(users)
    }

    /// Reads a users file.
    pub fn read(path: &std::path::Path) -> Result<Users, UsersError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read { path: shown.clone(), source })?;
        Users::parse(&text, &shown)
    }

    /// The bundled demo users (`examples/portal-users.json`).
    pub fn demo() -> Result<Users, UsersError> {
        Users::parse(include_str!("../portal-users.json"), "examples/portal-users.json")
    }
}

/// A live browser session.
#[derive(Debug, Clone)]
struct Session {
    login: String,
    csrf: String,
}

/// Identities and sessions.
pub struct Auth {
    users: Users,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Equal secrets, compared through their digests so the time taken does not
/// tell how much of a guess was right.
fn same_secret(a: &str, b: &str) -> bool {
    Sha256::digest(a.as_bytes()) == Sha256::digest(b.as_bytes())
}

/// A new unguessable token (two random UUIDs: 244 random bits).
fn random_token() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

impl Auth {
    /// Sessions over `users`.
    pub fn new(users: Users) -> Auth {
        Auth { users, sessions: Mutex::new(HashMap::new()) }
    }

    /// The identities.
    pub fn users(&self) -> &[User] {
        &self.users.users
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves the map consistent (single inserts and removes).
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Checks a login and password; on success opens a session and returns
    /// its cookie value.
    pub fn login(&self, login: &str, password: &str) -> Option<String> {
        let user = self.users.users.iter().find(|u| u.login == login)?;
        if !same_secret(&user.password, password) {
            return None;
        }
        let id = random_token();
        self.sessions().insert(id.clone(), Session { login: user.login.clone(), csrf: random_token() });
        Some(id)
    }

    /// Ends a session.
    pub fn logout(&self, session: &str) {
        self.sessions().remove(session);
    }

    /// Who the request is: a bearer token, or a session cookie (with the
    /// session's CSRF token, which unsafe requests must echo).
    pub fn authenticate(&self, headers: &HeaderMap, jar: &CookieJar) -> Option<Authed> {
        if let Some(value) = headers.get(axum::http::header::AUTHORIZATION) {
            let token = value.to_str().ok()?.strip_prefix("Bearer ")?.trim();
            let user = self.users.users.iter().find(|u| same_secret(&u.token, token))?;
            return Some(Authed { actor: user.actor.clone(), login: user.login.clone(), csrf: None });
        }
        let id = jar.get(SESSION_COOKIE)?.value().to_owned();
        let session = self.sessions().get(&id)?.clone();
        let user = self.users.users.iter().find(|u| u.login == session.login)?;
        Some(Authed { actor: user.actor.clone(), login: user.login.clone(), csrf: Some(session.csrf) })
    }
}

/// The session cookie for a session id.
pub fn session_cookie(id: String) -> Cookie<'static> {
    Cookie::build((SESSION_COOKIE, id)).http_only(true).same_site(SameSite::Strict).path("/").build()
}

/// An authenticated request's identity.
#[derive(Debug, Clone)]
pub struct Authed {
    /// Who it is in the library.
    pub actor: Actor,
    /// The login.
    pub login: String,
    /// The session's CSRF token (`None` for a bearer token, which a browser
    /// never sends on its own).
    pub csrf: Option<String>,
}

impl Authed {
    /// Refuses an unsafe request made with a session cookie unless it
    /// carries the session's CSRF token (`sent`: from the header or a form
    /// field).
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), ApiError> {
        match (&self.csrf, sent) {
            (None, _) => Ok(()),
            (Some(expected), Some(sent)) if same_secret(expected, sent) => Ok(()),
            (Some(_), _) => Err(ApiError::forbidden("missing or wrong CSRF token")),
        }
    }

    /// [`Authed::check_csrf`] with the token from the [`CSRF_HEADER`].
    pub fn check_csrf_header(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.check_csrf(headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()))
    }
}

impl FromRequestParts<Shared> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, portal: &Shared) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        portal.auth.authenticate(&parts.headers, &jar).ok_or_else(ApiError::unauthenticated)
    }
}
