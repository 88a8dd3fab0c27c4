//! The field rules of webhook bodies: the URL and the event filter.

use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{RefOr, SchemaFormat};

use crate::http::fields::FieldValue;
use flowtrack_core::validate;
use flowtrack_store::services::event::EventType;

/// A webhook URL: `http` or `https`, with a host, at most 2 000 characters. Where the host
/// may point is checked by the service (it resolves it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(pub String);

impl WebhookUrl {
    pub const MAX: usize = 2_000;

    pub fn schema() -> Schema {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::Custom("uri".into())))
            .max_length(Some(Self::MAX))
            .description(Some(
                "`http` or `https` with a host; the host must resolve to public addresses \
                 (unless `FLOWTRACK_WEBHOOK_ALLOW_PRIVATE=true`).",
            ))
            .build()
            .into()
    }
}

impl FieldValue for WebhookUrl {
    fn parse(value: Value) -> Result<Self, String> {
        let raw = validate::string(value)?;
        let raw = raw.trim();
        if raw.chars().count() > Self::MAX {
            return Err(format!("must be at most {} characters", Self::MAX));
        }
        let url = url::Url::parse(raw).map_err(|_| "must be an http or https URL".to_string())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("must have a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials (sign with the secret instead)".into());
        }
        Ok(Self(raw.to_string()))
    }
}

/// The event types a webhook delivers: distinct documented types; empty: every type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTypes(pub Vec<EventType>);

impl EventTypes {
    pub fn schema() -> Schema {
        Self::list_schema(false)
    }

    /// The schema where `null` is accepted too (absent and `null`: every type).
    pub fn schema_or_null() -> Schema {
        Self::list_schema(true)
    }

    fn list_schema(nullable: bool) -> Schema {
        let names: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
        let array = ArrayBuilder::new();
        let array = if nullable {
            array.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        } else {
            array
        };
        array
            .items(RefOr::T(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names))
                    .build()
                    .into(),
            ))
            .unique_items(true)
            .description(Some("Empty or absent: every event type."))
            .build()
            .into()
    }
}

impl FieldValue for EventTypes {
    fn parse(value: Value) -> Result<Self, String> {
        let Value::Array(items) = value else {
            return Err("must be an array of event types".into());
        };
        let mut types = Vec::with_capacity(items.len());
        for item in items {
            let name = item.as_str().unwrap_or_default();
            let kind = EventType::parse(name).ok_or_else(|| {
                format!("`{name}` is not an event type (e.g. task.created, task.moved)")
            })?;
            if types.contains(&kind) {
                return Err(format!("must be distinct (`{name}` repeats)"));
            }
            types.push(kind);
        }
        Ok(Self(types))
    }
}
