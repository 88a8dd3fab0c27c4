//! OpenAPI schemas of query parameters whose rules a plain type cannot state (used with
//! `#[param(schema_with = …)]`), and of the one body a derive cannot state. The schemas of
//! body fields sit next to their checks, in `http::fields`.
//!
//! Each one states exactly what the matching reader accepts, so that a client (or a
//! generated test) that follows the spec is never refused, and anything the spec rules out
//! is refused.

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use crate::http::fields::Email;
use flowtrack_core::pagination::MAX_LIMIT;
use flowtrack_core::validate::NO_NUL_PATTERN;

fn string(nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    }
}

/// Free text of a query parameter (a search string, a label).
pub fn query_text() -> Schema {
    string(false).pattern(Some(NO_NUL_PATTERN)).build().into()
}

/// `limit`: a whole number from 1 to 200 (default 50).
pub fn limit() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(MAX_LIMIT as i64))
        .default(Some(50.into()))
        .build()
        .into()
}

/// `cursor`: the opaque `next_cursor` of the previous page (URL-safe base64); a cursor the
/// server did not issue is a 400.
pub fn cursor() -> Schema {
    string(false)
        .pattern(Some("^[A-Za-z0-9_-]*$"))
        .build()
        .into()
}

/// A date (`YYYY-MM-DD`).
pub fn date() -> Schema {
    string(false)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
        .build()
        .into()
}

/// The `assignee_id` filter of `GET /tasks`: a user id, or `me`.
pub fn assignee_filter() -> Schema {
    OneOfBuilder::new()
        .item(
            string(false)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .build(),
        )
        .item(string(false).enum_values(Some(["me"])).build())
        .build()
        .into()
}

/// The `sort` of `GET /tasks`: a key, `-` first for descending.
pub fn task_sort() -> Schema {
    let keys = ["position", "created_at", "due_date", "priority"];
    let values = keys
        .iter()
        .map(|k| k.to_string())
        .chain(keys.iter().map(|k| format!("-{k}")));
    string(false).enum_values(Some(values)).build().into()
}

/// The `format` of a report that has no chart.
pub fn table_format() -> Schema {
    string(false)
        .enum_values(Some(["json", "csv"]))
        .default(Some("json".into()))
        .build()
        .into()
}

/// The `format` of a report that can also be a chart.
pub fn chart_format() -> Schema {
    string(false)
        .enum_values(Some(["json", "csv", "svg"]))
        .default(Some("json".into()))
        .build()
        .into()
}

/// `{user_id | email, role}`: exactly one of `user_id` and `email` is a string (the other
/// absent or `null`), `role` names a schema.
pub fn add_member(role_schema: impl Into<String>) -> RefOr<Schema> {
    let given = |name: &str| {
        ObjectBuilder::new()
            .property(name, ObjectBuilder::new().schema_type(Type::String))
            .required(name)
            .build()
    };
    let object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "user_id",
            string(true).format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
        )
        .property("email", Email::schema_or_null())
        .property("role", Ref::from_schema_name(role_schema))
        .required("role")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .description(Some(
            "The user to add, by `user_id` or by `email` (exactly one of them), and the role.",
        ))
        .examples([serde_json::json!({"email": "grace@example.com", "role": "editor"})]);
    RefOr::T(
        AllOfBuilder::new()
            .item(object)
            .item(
                OneOfBuilder::new()
                    .item(given("user_id"))
                    .item(given("email")),
            )
            .build()
            .into(),
    )
}
