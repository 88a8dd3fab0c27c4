//! Request bodies declared once, and read reporting *every* offending field for the 422 answer.
//!
//! serde stops at the first error and cannot say which fields are unknown *and* which have a
//! wrong type at once, so a body is first parsed into a JSON object (`http::input`), then read
//! field by field through a [`FieldReader`] that records problems instead of stopping. Any
//! field left unread is unknown and rejected (so `role` can never be smuggled into a
//! self-update).
//!
//! A body is declared once with [`request_body!`] (or [`patch_body!`]): a struct whose
//! fields' types say both how each is read (see [`Shape`]) and which rule checks it (see
//! `http::fields`).

use serde_json::{Map, Value};

use crate::http::fields::FieldValue;
use crate::http::input::Patch;
use flowtrack_core::error::{AppError, FieldError};

/// The message for a required field that is absent.
pub const IS_REQUIRED: &str = "is required";

/// What `null` means for an `Option` field of a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nulls {
    /// Absent or `null`: not given ([`request_body!`]).
    NotGiven,
    /// Absent leaves the value unchanged, `null` is refused: only a [`Patch`] field can be
    /// cleared ([`patch_body!`]).
    Refused,
}

/// How a body field is read, by its type: `T` is required; `Option<T>` may be absent (see
/// [`Nulls`] for `null`); [`Patch<T>`] may be absent, `null` (clear) or set. `T` is any
/// [`FieldValue`] (a rule of `http::fields`).
pub trait Shape: Sized {
    /// Reads the field (`None`: absent), or says what is wrong with it.
    fn read(value: Option<Value>, nulls: Nulls) -> Result<Self, String>;
}

impl<T: FieldValue> Shape for T {
    fn read(value: Option<Value>, _: Nulls) -> Result<Self, String> {
        match value {
            None => Err(IS_REQUIRED.into()),
            Some(Value::Null) => Err("must not be null".into()),
            Some(value) => T::parse(value),
        }
    }
}

impl<T: FieldValue> Shape for Option<T> {
    fn read(value: Option<Value>, nulls: Nulls) -> Result<Self, String> {
        match (value, nulls) {
            (None, _) | (Some(Value::Null), Nulls::NotGiven) => Ok(None),
            (Some(Value::Null), Nulls::Refused) => Err("must not be null".into()),
            (Some(value), _) => T::parse(value).map(Some),
        }
    }
}

impl<T: FieldValue> Shape for Patch<T> {
    fn read(value: Option<Value>, _: Nulls) -> Result<Self, String> {
        match value {
            None => Ok(Patch::Unchanged),
            Some(Value::Null) => Ok(Patch::Clear),
            Some(value) => T::parse(value).map(Patch::Set),
        }
    }
}

/// Reads the fields of one JSON object, recording every problem (used by [`request_body!`]).
pub struct FieldReader {
    fields: Map<String, Value>,
    nulls: Nulls,
    errors: Vec<FieldError>,
}

impl FieldReader {
    pub fn new(fields: Map<String, Value>, nulls: Nulls) -> Self {
        Self {
            fields,
            nulls,
            errors: Vec::new(),
        }
    }

    /// Reads one field; `None` (and a recorded problem) when it is invalid.
    pub fn read<T: Shape>(&mut self, name: &str) -> Option<T> {
        match T::read(self.fields.remove(name), self.nulls) {
            Ok(value) => Some(value),
            Err(message) => {
                self.errors.push(FieldError::new(name, message));
                None
            }
        }
    }

    /// A field this body knows but never accepts (e.g. `status` on a task PATCH).
    pub fn forbid(&mut self, name: &str, message: &str) {
        if self.fields.remove(name).is_some() {
            self.errors.push(FieldError::new(name, message));
        }
    }

    /// Records a problem found by a check across fields.
    pub fn check(&mut self, result: Result<(), FieldError>) {
        if let Err(error) = result {
            self.errors.push(error);
        }
    }

    /// Reports every field left unread as unknown, then the collected errors if any.
    pub fn finish<T>(mut self, value: Option<T>) -> Result<T, AppError> {
        let mut unknown: Vec<String> = self.fields.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.errors.push(FieldError::new(name, "unknown field"));
        }
        match value {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => Err(AppError::Validation(self.errors)),
        }
    }
}

/// Declares a request body: the struct (with its doc comments and `#[schema(…)]`
/// attributes, deriving `Deserialize` and, when asked for, `ToSchema`), and its reading from
/// a JSON object, which reports every problem at once: each field in order (read by its
/// type, see [`Shape`]), then the `forbid`den fields with their message, then the `check`s
/// (each called with references to the named fields, once they are all valid; it answers
/// `Err(FieldError)` for a problem), then the unknown fields.
///
/// ```ignore
/// request_body! {
///     #[derive(ToSchema)]
///     pub struct CreateProjectRequest {
///         #[schema(schema_with = Name::schema)]
///         pub name: Name,
///         pub start_date: Option<NaiveDate>,
///         pub due_date: Option<NaiveDate>,
///     }
///     forbid { owner_id: "is the caller" }
///     check { dates_in_order(start_date, due_date) }
/// }
/// ```
///
/// `Option` fields: absent or `null` mean "not given". In a body that changes something
/// ([`patch_body!`]) absent means "unchanged" and `null` is refused (a [`Patch`] field is
/// the one that `null` clears).
macro_rules! request_body {
    ($($body:tt)*) => {
        $crate::http::body::body_reader! { $crate::http::body::Nulls::NotGiven; $($body)* }
    };
}

/// [`request_body!`] for a PATCH body: an absent `Option` field is unchanged, `null` refused.
macro_rules! patch_body {
    ($($body:tt)*) => {
        $crate::http::body::body_reader! { $crate::http::body::Nulls::Refused; $($body)* }
    };
}

/// The expansion of [`request_body!`] and [`patch_body!`].
macro_rules! body_reader {
    (
        $nulls:expr;
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
        $(forbid { $($forbidden:ident : $message:literal),* $(,)? })?
        $(check { $($check:ident($($arg:ident),+)),* $(,)? })?
    ) => {
        $(#[$meta])*
        #[derive(Debug, serde::Deserialize)]
        // Deserializing goes through the reader below; `deny_unknown_fields` also states
        // `additionalProperties: false` in the schema.
        #[serde(try_from = "serde_json::Map<String, serde_json::Value>", deny_unknown_fields)]
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty,)*
        }

        impl TryFrom<serde_json::Map<String, serde_json::Value>> for $name {
            type Error = ::flowtrack_core::error::AppError;

            fn try_from(
                fields: serde_json::Map<String, serde_json::Value>,
            ) -> Result<Self, Self::Error> {
                let mut reader = $crate::http::body::FieldReader::new(fields, $nulls);
                $(let $field = reader.read::<$ty>(stringify!($field));)*
                $($(reader.forbid(stringify!($forbidden), $message);)*)?
                $($(
                    if let ($(Some($arg),)+) = ($($arg.as_ref(),)+) {
                        reader.check($check($($arg),+));
                    }
                )*)?
                let body = match ($($field,)*) {
                    ($(Some($field),)*) => Some(Self { $($field,)* }),
                    _ => None,
                };
                reader.finish(body)
            }
        }
    };
}

pub(crate) use {body_reader, patch_body, request_body};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::fields::Name;
    use chrono::NaiveDate;
    use serde_json::json;

    request_body! {
        struct Sample {
            name: Name,
            age: Option<bool>,
            due: Patch<NaiveDate>,
        }
        forbid { id: "cannot be changed" }
        check { not_both(age, due) }
    }

    fn not_both(age: &Option<bool>, due: &Patch<NaiveDate>) -> Result<(), FieldError> {
        match (age, due) {
            (Some(_), Patch::Set(_)) => Err(FieldError::new("due", "not with age")),
            _ => Ok(()),
        }
    }

    patch_body! {
        struct SampleChange {
            age: Option<bool>,
        }
    }

    fn read(value: Value) -> Result<Sample, AppError> {
        match value {
            Value::Object(map) => Sample::try_from(map),
            _ => unreachable!(),
        }
    }

    fn fields(err: AppError) -> Vec<String> {
        match err {
            AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let body = json!({"age": "x", "due": "2026-13-01", "id": 1, "role": "admin", "zz": 1});
        let err = read(body).expect_err("invalid");
        assert_eq!(fields(err), ["name", "age", "due", "id", "role", "zz"]);
        let err = read(json!({"age": true, "due": "2026-01-01"})).expect_err("invalid");
        assert_eq!(fields(err), ["name", "due"]);
    }

    #[test]
    fn absent_null_and_set_are_distinguished() {
        let s = read(json!({"name": " ab "})).expect("valid");
        assert_eq!(s.name, Name("ab".into()));
        assert_eq!(s.age, None);
        assert_eq!(s.due, Patch::Unchanged);
        let s = read(json!({"name": "ab", "due": null, "age": null})).expect("valid");
        assert_eq!(s.due, Patch::Clear);
        assert_eq!(s.age, None);
        let change = |age: Value| SampleChange::try_from(Map::from_iter([("age".into(), age)]));
        assert_eq!(change(json!(true)).expect("valid").age, Some(true));
        assert_eq!(
            fields(change(Value::Null).expect_err("null refused")),
            ["age"]
        );
    }

    #[test]
    fn deserializing_is_the_same_reading() {
        let s: Sample =
            serde_json::from_value(json!({"name": "ab", "due": "2026-01-02"})).expect("valid");
        assert_eq!(s.due.set(), NaiveDate::from_ymd_opt(2026, 1, 2).as_ref());
        assert!(serde_json::from_value::<Sample>(json!({"name": ""})).is_err());
    }
}
