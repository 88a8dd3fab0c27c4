//! The field rules of request bodies: one type per rule, whose `parse` is the check and whose
//! `schema` is what the OpenAPI document states about it, written side by side so that they
//! cannot drift apart.
//!
//! A rule type turns one JSON value into a typed, normalized value or a message for the 422
//! `errors` list ([`FieldValue`]). Strings are trimmed before their length is checked (the
//! patterns allow white space around the text), and no string may hold U+0000. Uuids, dates,
//! booleans and the API enums are rules too (their schemas come from their own `ToSchema`).
//!
//! A body field uses a rule through `#[schema(schema_with = Name::schema)]` (or
//! `Name::schema_or_null` for a field where `null` is accepted).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::{KnownFormat, RefOr, SchemaFormat};
use uuid::Uuid;

use flowtrack_core::validate::{self, NO_NUL_PATTERN, trimmed_pattern};
use flowtrack_store::models::api_tokens::TokenScope;
use flowtrack_store::models::project_members::ProjectRole;
use flowtrack_store::models::projects::ProjectStatus;
use flowtrack_store::models::tasks::{Priority, TaskStatus};
use flowtrack_store::models::users::Role;

/// A value of a request field, checked and normalized.
pub trait FieldValue: Sized {
    /// The value, or the message for the field's entry in the 422 `errors` list.
    fn parse(value: Value) -> Result<Self, String>;
}

impl FieldValue for Uuid {
    fn parse(value: Value) -> Result<Self, String> {
        validate::uuid(value)
    }
}

impl FieldValue for NaiveDate {
    fn parse(value: Value) -> Result<Self, String> {
        validate::date(value)
    }
}

impl FieldValue for DateTime<Utc> {
    fn parse(value: Value) -> Result<Self, String> {
        validate::timestamp(value)
    }
}

impl FieldValue for bool {
    fn parse(value: Value) -> Result<Self, String> {
        validate::boolean(value)
    }
}

/// The API enums (their `ApiEnum` names are the accepted strings). Listed one by one: a
/// blanket impl over a trait of another crate would overlap the impls above.
macro_rules! enum_fields {
    ($($enum:ty),* $(,)?) => {
        $(impl FieldValue for $enum {
            fn parse(value: Value) -> Result<Self, String> {
                validate::one_of(value)
            }
        })*
    };
}

enum_fields!(
    TaskStatus,
    Priority,
    ProjectRole,
    ProjectStatus,
    Role,
    TokenScope
);

fn string(nullable: bool) -> ObjectBuilder {
    if nullable {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]))
    } else {
        ObjectBuilder::new().schema_type(Type::String)
    }
}

/// The schema of a string trimmed before its length (`min..=max` characters) is checked.
fn trimmed_schema(min: usize, max: usize, nullable: bool) -> Schema {
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

/// Defines a text rule: a string trimmed, then `MIN..=MAX` characters long, no NUL.
macro_rules! trimmed_text {
    ($(#[$doc:meta])* $name:ident, $min:expr, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub String);

        impl $name {
            pub const MIN: usize = $min;
            pub const MAX: usize = $max;

            /// Checks a string given outside a JSON body (e.g. a command-line argument).
            pub fn new(raw: &str) -> Result<Self, String> {
                validate::trimmed(raw, Self::MIN, Self::MAX).map(Self)
            }

            pub fn schema() -> Schema {
                trimmed_schema(Self::MIN, Self::MAX, false)
            }

            /// The schema where `null` is accepted too.
            pub fn schema_or_null() -> Schema {
                trimmed_schema(Self::MIN, Self::MAX, true)
            }
        }

        impl FieldValue for $name {
            fn parse(value: Value) -> Result<Self, String> {
                Self::new(&validate::string(value)?)
            }
        }
    };
}

trimmed_text!(
    /// A task title or project name.
    Name, 1, 200
);
trimmed_text!(
    /// A person's full name.
    FullName, 1, 100
);
trimmed_text!(
    /// A description (may be empty).
    Description, 0, 10_000
);
trimmed_text!(
    /// The text of a comment.
    CommentBody, 1, 10_000
);
trimmed_text!(
    /// One label of a task.
    Label, 1, 50
);
trimmed_text!(
    /// The name of an API token.
    TokenName, 1, 100
);

/// A task's labels: up to [`Labels::MAX_ITEMS`] distinct [`Label`]s (order kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels(pub Vec<String>);

impl Labels {
    pub const MAX_ITEMS: usize = 20;

    fn list_schema(nullable: bool) -> Schema {
        let array = ArrayBuilder::new()
            .items(RefOr::T(Label::schema()))
            .max_items(Some(Self::MAX_ITEMS))
            .unique_items(true);
        let array = if nullable {
            array.schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
        } else {
            array
        };
        array.build().into()
    }

    pub fn schema() -> Schema {
        Self::list_schema(false)
    }

    pub fn schema_or_null() -> Schema {
        Self::list_schema(true)
    }
}

impl FieldValue for Labels {
    fn parse(value: Value) -> Result<Self, String> {
        let Value::Array(items) = value else {
            return Err("must be an array of strings".into());
        };
        if items.len() > Self::MAX_ITEMS {
            return Err(format!("must have at most {} labels", Self::MAX_ITEMS));
        }
        let mut labels: Vec<String> = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let Label(label) = Label::parse(item).map_err(|m| format!("item {i} {m}"))?;
            if labels.contains(&label) {
                return Err(format!("must be distinct (`{label}` repeats)"));
            }
            labels.push(label);
        }
        Ok(Self(labels))
    }
}

/// An email address: trimmed, lower-cased, at most [`validate::EMAIL_MAX`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(pub String);

impl Email {
    fn email_schema(nullable: bool) -> Schema {
        string(nullable)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
            .max_length(Some(validate::EMAIL_MAX))
            .pattern(Some(NO_NUL_PATTERN))
            .build()
            .into()
    }

    pub fn schema() -> Schema {
        Self::email_schema(false)
    }

    pub fn schema_or_null() -> Schema {
        Self::email_schema(true)
    }
}

impl Email {
    pub fn new(raw: &str) -> Result<Self, String> {
        validate::normalize_email(raw).map(Self)
    }
}

impl FieldValue for Email {
    fn parse(value: Value) -> Result<Self, String> {
        Self::new(&validate::string(value)?)
    }
}

/// A new password: [`validate::PASSWORD_MIN`]–[`validate::PASSWORD_MAX`] characters, taken
/// as is (never trimmed: spaces may be part of it).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(pub String);

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(…)")
    }
}

impl NewPassword {
    pub fn schema() -> Schema {
        string(false)
            .min_length(Some(validate::PASSWORD_MIN))
            .max_length(Some(validate::PASSWORD_MAX))
            .pattern(Some(NO_NUL_PATTERN))
            .build()
            .into()
    }
}

impl NewPassword {
    pub fn new(raw: String) -> Result<Self, String> {
        if raw.contains('\0') {
            return Err(validate::NUL_MESSAGE.into());
        }
        validate::check_password(&raw)?;
        Ok(Self(raw))
    }
}

impl FieldValue for NewPassword {
    fn parse(value: Value) -> Result<Self, String> {
        Self::new(validate::string(value)?)
    }
}

/// Any non-empty string without NUL, taken as is (a password to check, a token, a login
/// name).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    pub fn schema() -> Schema {
        string(false)
            .min_length(Some(1))
            .pattern(Some(NO_NUL_PATTERN))
            .build()
            .into()
    }
}

impl FieldValue for Secret {
    fn parse(value: Value) -> Result<Self, String> {
        match value {
            Value::String(s) if s.contains('\0') => Err(validate::NUL_MESSAGE.into()),
            Value::String(s) if !s.is_empty() => Ok(Self(s)),
            Value::String(_) => Err("must not be empty".into()),
            _ => Err("must be a string".into()),
        }
    }
}

/// A field that is accepted whatever its value, and ignored (e.g. OAuth2's `grant_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ignored;

impl FieldValue for Ignored {
    fn parse(_: Value) -> Result<Self, String> {
        Ok(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_rules_trim_and_bound() {
        assert_eq!(Name::parse(json!("  ab ")), Ok(Name("ab".into())));
        assert!(Name::parse(json!("   ")).is_err());
        assert!(Name::parse(json!("x".repeat(201))).is_err());
        assert_eq!(
            Description::parse(json!(" ")),
            Ok(Description(String::new()))
        );
        let pattern = Name::schema();
        let pattern = serde_json::to_value(pattern).expect("schema");
        assert!(
            pattern["pattern"]
                .as_str()
                .is_some_and(|p| p.contains("{0,198}"))
        );
    }

    #[test]
    fn strings_with_nul_are_refused() {
        assert_eq!(
            Secret::parse(json!("\u{0}")),
            Err(validate::NUL_MESSAGE.into())
        );
        assert_eq!(
            NewPassword::parse(json!("12345678\u{0}")),
            Err(validate::NUL_MESSAGE.into())
        );
        assert_eq!(
            NewPassword::parse(json!(" spaced  ")),
            Ok(NewPassword(" spaced  ".into()))
        );
    }

    #[test]
    fn labels_are_bounded_distinct_and_trimmed() {
        assert_eq!(
            Labels::parse(json!([" a ", "b"])),
            Ok(Labels(vec!["a".to_string(), "b".to_string()]))
        );
        assert!(Labels::parse(json!(["a", " a"])).is_err());
        assert!(Labels::parse(json!([""])).is_err());
        assert!(Labels::parse(json!(["x".repeat(51)])).is_err());
        let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert!(Labels::parse(json!(many)).is_err());
        assert!(Labels::parse(json!("a")).is_err());
        assert!(Labels::parse(json!([1])).is_err());
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            Email::parse(json!(" Ada@Example.COM")),
            Ok(Email("ada@example.com".into()))
        );
        assert!(Email::parse(json!(5)).is_err());
    }
}
