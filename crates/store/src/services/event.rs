//! The events of a project, typed: one variant per documented type, each with its data.
//!
//! An event is written once (by the change that commits it, as the `events.payload` text and
//! the bus message) and read as a value everywhere else: the hub routes joins and leaves by
//! variant, the read caches drop what a variant makes stale, the activity log takes its
//! `action` from [`EventType`]. Its JSON is exactly the WebSocket message clients receive:
//!
//! ```json
//! {"type":"task.moved","project_id":"…","seq":42,"actor_id":"…","at":"…",
//!  "data":{"task":{…},"from":"todo","to":"in_progress"}}
//! ```
//!
//! The type names below are the only place they are spelled.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::models::tasks::TaskStatus;
use crate::services::comments::Comment;
use crate::services::members::Member;
use crate::services::projects::Project;
use crate::services::tasks::Task;

/// `{project}`: `project.created`, `project.updated`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectData {
    pub project: Project,
}

/// `{project_id}`: `project.deleted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectRef {
    pub project_id: Uuid,
}

/// `{member}`: `member.added`, `member.updated`, `member.removed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberData {
    pub member: Member,
}

/// `{task}`: `task.created`, `task.deleted` (the task as it was).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskData {
    pub task: Task,
}

/// `{task, changes}`: `task.updated`; `changes` names the changed fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    pub task: Task,
    pub changes: Vec<String>,
}

/// `{task, from, to}`: `task.moved`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskMove {
    pub task: Task,
    pub from: TaskStatus,
    pub to: TaskStatus,
}

/// `{comment}`: `comment.created`, `comment.updated`, `comment.deleted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentData {
    pub comment: Comment,
}

/// Declares [`EventType`] and [`EventData`] from one list, so a type's name, its variant and
/// its data shape are written once.
macro_rules! event_types {
    ($($variant:ident($data:ty) = $name:literal,)*) => {
        /// The documented event types (also the activity log's `action`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType {
            $($variant,)*
        }

        impl EventType {
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)*];

            /// The wire name, e.g. `task.moved`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(EventType::$variant => $name,)*
                }
            }

            pub fn parse(name: &str) -> Option<Self> {
                match name {
                    $($name => Some(EventType::$variant),)*
                    _ => None,
                }
            }
        }

        /// What changed, with its data.
        #[derive(Debug, Clone)]
        pub enum EventData {
            $($variant($data),)*
        }

        impl EventData {
            pub fn event_type(&self) -> EventType {
                match self {
                    $(EventData::$variant(_) => EventType::$variant,)*
                }
            }

            /// Serializes the `data` object alone.
            fn serialize_data<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self {
                    $(EventData::$variant(data) => data.serialize(serializer),)*
                }
            }

            /// Reads the `data` object of an event of type `kind`.
            fn from_data(
                kind: EventType,
                data: serde_json::Value,
            ) -> Result<Self, serde_json::Error> {
                Ok(match kind {
                    $(EventType::$variant => EventData::$variant(serde_json::from_value(data)?),)*
                })
            }
        }
    };
}

event_types! {
    ProjectCreated(ProjectData) = "project.created",
    ProjectUpdated(ProjectData) = "project.updated",
    ProjectDeleted(ProjectRef) = "project.deleted",
    MemberAdded(MemberData) = "member.added",
    MemberUpdated(MemberData) = "member.updated",
    MemberRemoved(MemberData) = "member.removed",
    TaskCreated(TaskData) = "task.created",
    TaskUpdated(TaskUpdate) = "task.updated",
    TaskMoved(TaskMove) = "task.moved",
    TaskDeleted(TaskData) = "task.deleted",
    CommentCreated(CommentData) = "comment.created",
    CommentUpdated(CommentData) = "comment.updated",
    CommentDeleted(CommentData) = "comment.deleted",
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        EventType::parse(&name)
            .ok_or_else(|| D::Error::custom(format!("unknown event type `{name}`")))
    }
}

/// Whose access to the project an event changes (the hub starts or stops their delivery).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// This user can see the project from this event on (its creator, an added member).
    Joins(Uuid),
    /// This user cannot see it after this event (a removed member).
    Leaves(Uuid),
    /// Nobody can see it after this event (the project was deleted).
    Ends,
}

impl EventData {
    /// The task an event is about: task events, and comment events (their task).
    pub fn task_id(&self) -> Option<Uuid> {
        match self {
            EventData::TaskCreated(d) | EventData::TaskDeleted(d) => Some(d.task.id),
            EventData::TaskUpdated(d) => Some(d.task.id),
            EventData::TaskMoved(d) => Some(d.task.id),
            EventData::CommentCreated(d)
            | EventData::CommentUpdated(d)
            | EventData::CommentDeleted(d) => Some(d.comment.task_id),
            _ => None,
        }
    }

    /// The member a member event is about.
    pub fn member_id(&self) -> Option<Uuid> {
        match self {
            EventData::MemberAdded(d)
            | EventData::MemberUpdated(d)
            | EventData::MemberRemoved(d) => Some(d.member.user.id),
            _ => None,
        }
    }

    /// The user whose access to the project the event is about (`events.subject_id`): the
    /// owner of a created project, the member of a member event.
    pub fn subject(&self) -> Option<Uuid> {
        match self {
            EventData::ProjectCreated(d) => Some(d.project.owner_id),
            _ => self.member_id(),
        }
    }

    /// How the event changes who may see the project, if it does.
    pub fn access(&self) -> Option<Access> {
        match self {
            EventData::ProjectCreated(d) => Some(Access::Joins(d.project.owner_id)),
            EventData::MemberAdded(d) => Some(Access::Joins(d.member.user.id)),
            EventData::MemberRemoved(d) => Some(Access::Leaves(d.member.user.id)),
            EventData::ProjectDeleted(_) => Some(Access::Ends),
            _ => None,
        }
    }
}

/// One committed change of a project, numbered by the project's gapless `seq`.
#[derive(Debug, Clone)]
pub struct ProjectEvent {
    pub project_id: Uuid,
    pub seq: i64,
    pub actor_id: Uuid,
    pub at: DateTime<Utc>,
    pub data: EventData,
}

impl ProjectEvent {
    pub fn event_type(&self) -> EventType {
        self.data.event_type()
    }

    /// The exact WebSocket message (and `events.payload`).
    pub fn to_json(&self) -> String {
        // Serializing plain structs and strings into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// `data` serialized on its own, inside the envelope's map.
struct DataOf<'a>(&'a EventData);

impl Serialize for DataOf<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_data(serializer)
    }
}

impl Serialize for ProjectEvent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(6))?;
        map.serialize_entry("type", &self.event_type())?;
        map.serialize_entry("project_id", &self.project_id)?;
        map.serialize_entry("seq", &self.seq)?;
        map.serialize_entry("actor_id", &self.actor_id)?;
        map.serialize_entry("at", &flowtrack_core::time::format(&self.at))?;
        map.serialize_entry("data", &DataOf(&self.data))?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for ProjectEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Envelope {
            #[serde(rename = "type")]
            kind: EventType,
            project_id: Uuid,
            seq: i64,
            actor_id: Uuid,
            at: DateTime<Utc>,
            data: serde_json::Value,
        }
        let envelope = Envelope::deserialize(deserializer)?;
        let data = EventData::from_data(envelope.kind, envelope.data).map_err(D::Error::custom)?;
        Ok(ProjectEvent {
            project_id: envelope.project_id,
            seq: envelope.seq,
            actor_id: envelope.actor_id,
            at: envelope.at,
            data,
        })
    }
}
