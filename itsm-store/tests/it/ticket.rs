//! A small test aggregate: a ticket with open, assign, note, link, schedule,
//! bump and close commands. Generic enough to exercise every store path
//! (references, outbox, windows, multi-event commands, large text).

use itsm_core::aggregate::RefKind;
use itsm_core::id::{ActorId, GroupId, ServiceId, TenantId};
use itsm_core::vocabulary::Priority;
use itsm_core::{Aggregate, AggregateKind, ApplyError, Context, OutboxMessage, Reference, Summary, Timestamp};
use serde::{Deserialize, Serialize};

/// The ticket's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub tenant: TenantId,
    pub title: String,
    pub closed: bool,
    pub service: Option<ServiceId>,
    pub priority: Option<Priority>,
    pub assignee: Option<ActorId>,
    pub group: Option<GroupId>,
    pub window: Option<(Timestamp, Timestamp)>,
    pub notes: Vec<String>,
    pub links: Vec<String>,
    pub counter: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TicketCommand {
    Open { id: String, title: String, service: Option<ServiceId>, priority: Option<Priority>, group: Option<GroupId> },
    Assign { to: ActorId },
    Note { text: String },
    Link { other: String },
    Schedule { start: Timestamp, end: Timestamp },
    Bump,
    BumpTwice,
    Close,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TicketEvent {
    Opened {
        id: String,
        tenant: TenantId,
        title: String,
        service: Option<ServiceId>,
        priority: Option<Priority>,
        group: Option<GroupId>,
    },
    Assigned {
        to: ActorId,
    },
    Noted {
        text: String,
    },
    Linked {
        other: String,
    },
    Scheduled {
        start: Timestamp,
        end: Timestamp,
    },
    Bumped,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("ticket already exists")]
    AlreadyExists,
    #[error("ticket does not exist")]
    Absent,
    #[error("ticket is closed")]
    Closed,
    #[error("window ends before it starts")]
    BadWindow,
}

impl itsm_core::Refusal for TicketError {
    fn refusal(&self) -> itsm_core::RefusalKind {
        match self {
            TicketError::AlreadyExists => itsm_core::RefusalKind::AlreadyExists,
            TicketError::Absent => itsm_core::RefusalKind::NotFound,
            TicketError::Closed => itsm_core::RefusalKind::Rules,
            TicketError::BadWindow => itsm_core::RefusalKind::Invalid,
        }
    }
}

impl Aggregate for Ticket {
    const KIND: AggregateKind = AggregateKind::Incident;
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;

    fn decide(
        state: Option<&Self>,
        command: &TicketCommand,
        ctx: &Context<'_>,
    ) -> Result<Vec<TicketEvent>, TicketError> {
        use TicketCommand as C;
        use TicketEvent as E;
        let Some(state) = state else {
            return match command {
                C::Open { id, title, service, priority, group } => Ok(vec![E::Opened {
                    id: id.clone(),
                    tenant: ctx.actor.tenant.clone(),
                    title: title.clone(),
                    service: service.clone(),
                    priority: *priority,
                    group: group.clone(),
                }]),
                _ => Err(TicketError::Absent),
            };
        };
        if state.closed {
            return Err(match command {
                C::Open { .. } => TicketError::AlreadyExists,
                _ => TicketError::Closed,
            });
        }
        Ok(match command {
            C::Open { .. } => return Err(TicketError::AlreadyExists),
            C::Assign { to } => vec![E::Assigned { to: to.clone() }],
            C::Note { text } => vec![E::Noted { text: text.clone() }],
            C::Link { other } => vec![E::Linked { other: other.clone() }],
            C::Schedule { start, end } => {
                if end <= start {
                    return Err(TicketError::BadWindow);
                }
                vec![E::Scheduled { start: *start, end: *end }]
            }
            C::Bump => vec![E::Bumped],
            C::BumpTwice => vec![E::Bumped, E::Bumped],
            C::Close => vec![E::Closed],
        })
    }

    fn apply(state: Option<Self>, event: &TicketEvent) -> Result<Self, ApplyError> {
        let bad = |state: &'static str| ApplyError { kind: Self::KIND, state, event: Self::event_name(event) };
        match (state, event) {
            (None, TicketEvent::Opened { id, tenant, title, service, priority, group }) => Ok(Ticket {
                id: id.clone(),
                tenant: tenant.clone(),
                title: title.clone(),
                closed: false,
                service: service.clone(),
                priority: *priority,
                assignee: None,
                group: group.clone(),
                window: None,
                notes: Vec::new(),
                links: Vec::new(),
                counter: 0,
            }),
            (None, _) => Err(bad("absent")),
            (Some(_), TicketEvent::Opened { .. }) => Err(bad("open")),
            (Some(mut t), e) => {
                match e {
                    TicketEvent::Opened { .. } => unreachable!(),
                    TicketEvent::Assigned { to } => t.assignee = Some(to.clone()),
                    TicketEvent::Noted { text } => t.notes.push(text.clone()),
                    TicketEvent::Linked { other } => t.links.push(other.clone()),
                    TicketEvent::Scheduled { start, end } => t.window = Some((*start, *end)),
                    TicketEvent::Bumped => t.counter += 1,
                    TicketEvent::Closed => t.closed = true,
                }
                Ok(t)
            }
        }
    }

    fn id(&self) -> &str {
        &self.id
    }

    fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    fn summary(&self) -> Summary {
        Summary {
            status: if self.closed {
                "closed"
            } else if self.assignee.is_some() {
                "assigned"
            } else {
                "open"
            },
            terminal: self.closed,
            service: self.service.clone(),
            priority: self.priority,
            assignee: self.assignee.clone(),
            group: self.group.clone(),
            window: self.window,
            title: self.title.clone(),
            requester: None,
            // The test aggregate keeps no instants.
            opened_at: Timestamp::from_unix_secs(0).expect("the epoch is in range"),
            major: false,
        }
    }

    fn event_name(event: &TicketEvent) -> &'static str {
        match event {
            TicketEvent::Opened { .. } => "opened",
            TicketEvent::Assigned { .. } => "assigned",
            TicketEvent::Noted { .. } => "noted",
            TicketEvent::Linked { .. } => "linked",
            TicketEvent::Scheduled { .. } => "scheduled",
            TicketEvent::Bumped => "bumped",
            TicketEvent::Closed => "closed",
        }
    }

    fn command_name(command: &TicketCommand) -> &'static str {
        match command {
            TicketCommand::Open { .. } => "open",
            TicketCommand::Assign { .. } => "assign",
            TicketCommand::Note { .. } => "note",
            TicketCommand::Link { .. } => "link",
            TicketCommand::Schedule { .. } => "schedule",
            TicketCommand::Bump => "bump",
            TicketCommand::BumpTwice => "bump_twice",
            TicketCommand::Close => "close",
        }
    }

    fn references(command: &TicketCommand) -> Vec<Reference> {
        match command {
            TicketCommand::Link { other } => vec![Reference { kind: RefKind::Incident, id: other.clone() }],
            _ => Vec::new(),
        }
    }

    fn outbox(state: &Self, events: &[TicketEvent]) -> Vec<OutboxMessage> {
        events
            .iter()
            .filter(|e| matches!(e, TicketEvent::Closed))
            .map(|_| OutboxMessage {
                topic: "notify.stakeholders".into(),
                dedup_key: format!("closed:{}", state.id),
                payload: serde_json::json!({ "ticket": state.id, "title": state.title }),
            })
            .collect()
    }
}

/// An open command with just an id and a title.
#[allow(dead_code)]
pub fn open(id: &str, title: &str) -> TicketCommand {
    TicketCommand::Open { id: id.into(), title: title.into(), service: None, priority: None, group: None }
}
