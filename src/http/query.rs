//! Query strings declared once, and read reporting *every* offending parameter in one 422.
//!
//! A set of query parameters is declared once with [`query_params!`]: a struct deriving
//! `IntoParams` (what the OpenAPI document says about each parameter) whose fields' types
//! say how each one is read (see [`QueryValue`]). A handler takes it as [`Params<T>`].
//!
//! Every parameter is optional. Unknown parameters are ignored (clients add cache busters).
//! A parameter given with an empty value is a problem (`?status=` names no status), except
//! free text ([`QueryValue::EMPTY_IS_ABSENT`]), where empty means "not given".

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use chrono::NaiveDate;
use uuid::Uuid;

use crate::http::input::Query;
use crate::http::problem::ApiError;
use flowtrack_core::error::{AppError, FieldError};
use flowtrack_core::pagination::{self, PageRequest};
use flowtrack_core::validate::{self, ApiEnum};
use flowtrack_store::models::projects::ProjectStatus;
use flowtrack_store::models::tasks::{Priority, TaskStatus};
use flowtrack_store::models::users::Role;
use flowtrack_store::services::tasks::Sort;

/// What is wrong with the value of a query parameter.
#[derive(Debug)]
pub enum ParamError {
    /// The parameter's entry in the 422 `errors` list.
    Invalid(String),
    /// The whole request is refused, whatever the other parameters (a cursor the server did
    /// not issue: 400).
    Refused(AppError),
}

impl From<String> for ParamError {
    fn from(message: String) -> Self {
        Self::Invalid(message)
    }
}

impl From<&str> for ParamError {
    fn from(message: &str) -> Self {
        Self::Invalid(message.into())
    }
}

/// The value of a query parameter, read from its (non-empty) text.
pub trait QueryValue: Sized {
    /// `true` for free text: an empty value means "not given" rather than a problem.
    const EMPTY_IS_ABSENT: bool = false;

    fn parse(raw: &str) -> Result<Self, ParamError>;
}

impl QueryValue for Uuid {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        Uuid::parse_str(raw).map_err(|_| "must be a UUID".into())
    }
}

impl QueryValue for NaiveDate {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        Ok(validate::parse_date(raw)?)
    }
}

/// `true`/`1` or `false`/`0`.
impl QueryValue for bool {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        match raw {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err("must be true or false".into()),
        }
    }
}

/// Free text (a search string, a label): taken as is; no NUL.
impl QueryValue for String {
    const EMPTY_IS_ABSENT: bool = true;

    fn parse(raw: &str) -> Result<Self, ParamError> {
        if raw.contains('\0') {
            return Err(validate::NUL_MESSAGE.into());
        }
        Ok(raw.to_string())
    }
}

impl QueryValue for Sort {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        Ok(Sort::parse(raw)?)
    }
}

/// The API enums, by their `ApiEnum` names. Listed one by one: a blanket impl over a trait
/// of another crate would overlap the impls above.
macro_rules! enum_params {
    ($($enum:ty),* $(,)?) => {
        $(impl QueryValue for $enum {
            fn parse(raw: &str) -> Result<Self, ParamError> {
                Ok(<$enum as ApiEnum>::parse(raw).ok_or_else(<$enum>::expected)?)
            }
        })*
    };
}

enum_params!(TaskStatus, Priority, ProjectStatus, Role);

/// `limit`: the size of a page, 1 to [`pagination::MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub u64);

impl QueryValue for Limit {
    fn parse(raw: &str) -> Result<Self, ParamError> {
        Ok(pagination::parse_limit(raw).map(Self)?)
    }
}

/// `cursor`: the `next_cursor` of the previous page, decoded. Empty means "not given"; one
/// the server did not issue refuses the request (400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

impl QueryValue for Cursor {
    const EMPTY_IS_ABSENT: bool = true;

    fn parse(raw: &str) -> Result<Self, ParamError> {
        let raw = String::parse(raw)?;
        pagination::decode_cursor(&raw)
            .map(Self)
            .map_err(ParamError::Refused)
    }
}

/// The page asked for by `limit` (default [`pagination::DEFAULT_LIMIT`]) and `cursor`.
pub fn page(limit: Option<Limit>, cursor: Option<Cursor>) -> PageRequest {
    PageRequest {
        limit: limit.map_or(pagination::DEFAULT_LIMIT, |l| l.0),
        after: cursor.map(|c| c.0),
    }
}

/// Reads the parameters of one query string, recording every problem (used by
/// [`query_params!`]).
pub struct QueryReader {
    params: HashMap<String, String>,
    errors: Vec<FieldError>,
    refused: Option<AppError>,
}

impl QueryReader {
    pub fn new(params: HashMap<String, String>) -> Self {
        Self {
            params,
            errors: Vec::new(),
            refused: None,
        }
    }

    /// Reads one parameter: `None` when absent (or empty free text), and when invalid (the
    /// problem recorded).
    pub fn read<T: QueryValue>(&mut self, name: &str) -> Option<T> {
        let raw = self.params.get(name)?;
        let result = if !raw.is_empty() {
            T::parse(raw)
        } else if T::EMPTY_IS_ABSENT {
            return None;
        } else {
            Err("must not be empty".into())
        };
        match result {
            Ok(value) => Some(value),
            Err(ParamError::Invalid(message)) => {
                self.errors.push(FieldError::new(name, message));
                None
            }
            Err(ParamError::Refused(error)) => {
                self.refused.get_or_insert(error);
                None
            }
        }
    }

    /// The parameters read, or the refusal of the request, or every problem in one 422.
    pub fn finish<T>(self, params: T) -> Result<T, AppError> {
        match self.refused {
            Some(error) => Err(error),
            None if self.errors.is_empty() => Ok(params),
            None => Err(AppError::Validation(self.errors)),
        }
    }
}

/// A set of query parameters read from a query string (implemented by [`query_params!`]).
pub trait FromQuery: Sized {
    fn from_query(query: QueryReader) -> Result<Self, AppError>;
}

/// The extractor of a set of query parameters declared with [`query_params!`].
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: FromQuery> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(params) = Query::from_request_parts(parts, state).await?;
        Ok(Params(T::from_query(QueryReader::new(params))?))
    }
}

/// Declares a set of query parameters: the struct (with its doc comments and `#[param(…)]`
/// attributes, deriving `IntoParams` for the OpenAPI document), and its reading from the
/// query string, which reads each parameter in order by its type (`Option<T>`, `T` a
/// [`QueryValue`]) and reports every problem at once.
///
/// ```ignore
/// query_params! {
///     pub struct ProjectListParams {
///         #[param(nullable = false)]
///         pub status: Option<ProjectStatus>,
///         /// Case-insensitive substring of the name or description.
///         #[param(schema_with = schema::query_text)]
///         pub q: Option<String>,
///     }
/// }
/// ```
macro_rules! query_params {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : Option<$ty:ty>),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(utoipa::IntoParams)]
        #[into_params(parameter_in = Query)]
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: Option<$ty>,)*
        }

        impl $crate::http::query::FromQuery for $name {
            fn from_query(
                mut query: $crate::http::query::QueryReader,
            ) -> Result<Self, ::flowtrack_core::error::AppError> {
                let params = Self {
                    $($field: query.read::<$ty>(stringify!($field)),)*
                };
                query.finish(params)
            }
        }
    };
}

pub(crate) use query_params;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::schema;

    query_params! {
        #[derive(Debug)]
        struct Sample {
            status: Option<TaskStatus>,
            unread: Option<bool>,
            q: Option<String>,
            #[param(schema_with = schema::limit)]
            limit: Option<Limit>,
            #[param(schema_with = schema::cursor)]
            cursor: Option<Cursor>,
        }
    }

    fn read(query: &str) -> Result<Sample, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).expect("query");
        Sample::from_query(QueryReader::new(pairs.into_iter().collect()))
    }

    fn fields(err: AppError) -> Vec<String> {
        match err {
            AppError::Validation(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = read("status=nope&unread=yes&q=a%00&limit=0&other=1").expect_err("invalid");
        assert_eq!(fields(err), ["status", "unread", "q", "limit"]);
    }

    #[test]
    fn empty_is_a_problem_except_for_free_text() {
        assert_eq!(fields(read("status=").expect_err("empty")), ["status"]);
        assert_eq!(fields(read("limit=").expect_err("empty")), ["limit"]);
        let s = read("q=&cursor=").expect("free text");
        assert_eq!((s.q, s.cursor), (None, None));
    }

    #[test]
    fn values_are_typed() {
        let cursor = pagination::encode_cursor("k");
        let s = read(&format!("status=done&unread=1&q=x&limit=5&cursor={cursor}")).expect("ok");
        assert_eq!(s.status, Some(TaskStatus::Done));
        assert_eq!(s.unread, Some(true));
        assert_eq!(s.q.as_deref(), Some("x"));
        let asked = page(s.limit, s.cursor);
        assert_eq!((asked.limit, asked.after.as_deref()), (5, Some("k")));
        let default = page(None, None);
        assert_eq!(
            (default.limit, default.after),
            (pagination::DEFAULT_LIMIT, None)
        );
    }

    #[test]
    fn a_bad_cursor_refuses_the_request() {
        let err = read("status=nope&cursor=garbage!").expect_err("refused");
        assert!(matches!(err, AppError::BadRequest(_)), "{err:?}");
        assert_eq!(fields(read("cursor=%00").expect_err("NUL")), ["cursor"]);
    }
}
