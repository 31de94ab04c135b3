//! # itsm-core
//!
//! The pure domain of an embeddable IT service management engine: incidents,
//! problems and changes as typed state machines, SLA clocks and business
//! calendars.
//!
//! This crate does no I/O and never reads the clock: every decision takes the
//! current instant as an argument, so any history can be replayed and gives the
//! same answer.
#![cfg_attr(not(test), warn(clippy::wildcard_enum_match_arm))]

pub mod actor;
pub mod aggregate;
pub mod alert;
pub mod calendar;
pub mod change;
pub mod id;
pub mod incident;
pub mod json;
pub mod machine;
pub mod problem;
pub mod read;
pub mod records;
pub mod service;
pub mod sla;
pub mod versioned;
pub mod vocabulary;

/// Generated Mermaid diagrams of every state machine (see `docs/state-machines.md`).
#[doc = include_str!("../../docs/state-machines.md")]
pub mod state_machines {}

pub mod time;

pub use actor::{Actor, AggregateKind, Permissions, Role};
pub use aggregate::{
    Aggregate, ApplyError, Context, DomainConfig, ExecuteError, OutboxMessage, RefKind, Reference, Refusal,
    RefusalKind, Summary,
};
pub use calendar::{Calendar, CalendarDef, CalendarError};
pub use sla::{SlaError, SlaEvent, SlaPolicy, TargetClock, clocks, due_escalations};
pub use time::{BusinessDuration, Timestamp};
