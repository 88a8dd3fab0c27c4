//! OpenAPI schemas of request fields whose rules a plain type cannot state (used with
//! `#[schema(schema_with = …)]` and `#[param(schema_with = …)]`).
//!
//! Each one states exactly what the matching reader in `core::validate` accepts, so that a
//! client (or a generated test) that follows the spec is never refused, and anything the
//! spec rules out is refused: strings are trimmed before their length is checked (the
//! patterns allow white space around the text), and no string may hold U+0000.

use utoipa::openapi::schema::{
    AdditionalProperties, AllOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder, Ref, Schema,
    SchemaType, Type,
};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};

use flowtrack_core::pagination::MAX_LIMIT;
use flowtrack_core::validate::{NO_NUL_PATTERN, trimmed_pattern};

fn string(nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    }
}

/// A string trimmed before its length (`min..=max` characters) is checked.
fn trimmed(min: usize, max: usize, nullable: bool) -> Schema {
    let description = if min == 0 {
        format!("At most {max} characters once trimmed; no NUL.")
    } else {
        format!("{min}–{max} characters once trimmed; no NUL.")
    };
    string(nullable)
        .description(Some(description))
        .pattern(Some(trimmed_pattern(min, max)))
        .build()
        .into()
}

/// Any string without NUL of at least `min` characters, taken as is.
fn plain(min: usize, nullable: bool) -> Schema {
    string(nullable)
        .min_length((min > 0).then_some(min))
        .pattern(Some(NO_NUL_PATTERN))
        .build()
        .into()
}

/// A task title or project name: 1–200 characters after trimming.
pub fn name() -> Schema {
    trimmed(1, 200, false)
}

/// A full name: 1–100 characters after trimming.
pub fn full_name() -> Schema {
    trimmed(1, 100, false)
}

/// A description: at most 10 000 characters after trimming (may be empty).
pub fn description() -> Schema {
    trimmed(0, 10_000, false)
}

/// A description where `null` means "not given".
pub fn description_or_null() -> Schema {
    trimmed(0, 10_000, true)
}

/// A comment body: 1–10 000 characters after trimming.
pub fn comment_body() -> Schema {
    trimmed(1, 10_000, false)
}

fn label_list(nullable: bool) -> Schema {
    let array = ArrayBuilder::new()
        .items(RefOr::T(trimmed(1, 50, false)))
        .max_items(Some(20))
        .unique_items(true);
    let array = if nullable {
        array.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
    } else {
        array
    };
    array.build().into()
}

/// Task labels: up to 20 distinct strings of 1–50 characters after trimming.
pub fn labels() -> Schema {
    label_list(false)
}

/// Task labels where `null` means "not given".
pub fn labels_or_null() -> Schema {
    label_list(true)
}

fn email_schema(nullable: bool) -> Schema {
    string(nullable)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
        .max_length(Some(254))
        .pattern(Some(NO_NUL_PATTERN))
        .build()
        .into()
}

/// An email address (trimmed and lower-cased; at most 254 characters).
pub fn email() -> Schema {
    email_schema(false)
}

/// An email address where `null` means "not given".
pub fn email_or_null() -> Schema {
    email_schema(true)
}

/// A new password: 8–128 characters, taken as is (not trimmed).
pub fn password() -> Schema {
    string(false)
        .min_length(Some(8))
        .max_length(Some(128))
        .pattern(Some(NO_NUL_PATTERN))
        .build()
        .into()
}

/// A non-empty string taken as is (a password to check, a token, a login name).
pub fn secret() -> Schema {
    plain(1, false)
}

/// Free text of a query parameter (a search string, a label).
pub fn query_text() -> Schema {
    plain(0, false)
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

/// A date, or `null` (absent or cleared, depending on the operation).
pub fn date_or_null() -> Schema {
    string(true)
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
        .property("email", email_or_null())
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
