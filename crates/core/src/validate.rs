//! The checks behind the field rules of `core::fields`: pure functions from a JSON value or a
//! string to a typed, normalized value or a message for the 422 `errors` list.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::error::FieldError;

pub type FieldResult<T> = Result<T, String>;

/// Every string of a request is refused when it holds U+0000 (PostgreSQL cannot store it, and
/// no name, text or address needs it).
pub const NUL_MESSAGE: &str = "must not contain NUL (U+0000) characters";

/// The characters `str::trim` removes (Unicode `White_Space`), as inclusive ranges. The
/// OpenAPI patterns below are built from them, so the spec states the trimming rule exactly.
const WHITE_SPACE: &[(char, char)] = &[
    ('\u{9}', '\u{d}'),
    (' ', ' '),
    ('\u{85}', '\u{85}'),
    ('\u{a0}', '\u{a0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200a}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202f}', '\u{202f}'),
    ('\u{205f}', '\u{205f}'),
    ('\u{3000}', '\u{3000}'),
];

/// [`WHITE_SPACE`] as the body of a regex character class (`\uXXXX` escapes, which both
/// ECMA-262 and Python regexes read).
fn white_space_class() -> String {
    let escape = |c: char| format!("\\u{:04x}", u32::from(c));
    WHITE_SPACE
        .iter()
        .map(|&(lo, hi)| {
            if lo == hi {
                escape(lo)
            } else {
                format!("{}-{}", escape(lo), escape(hi))
            }
        })
        .collect()
}

/// A regex (ECMA-262 and Python compatible) for "no NUL character".
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// A regex matching exactly the strings [`trimmed`] accepts with these bounds (`max`
/// at least 2): a length of `min..=max` characters once the white space around it is
/// removed, and no NUL anywhere.
pub fn trimmed_pattern(min: usize, max: usize) -> String {
    assert!(min <= 1 && max >= 2, "trimmed_pattern({min}, {max})");
    let space = white_space_class();
    let ws = format!("[{space}]");
    let edge = format!(r"[^{space}\u0000]");
    let inner = format!(r"{edge}([^\u0000]{{0,{}}}{edge})?", max - 2);
    if min == 0 {
        format!("^{ws}*({inner}{ws}*)?$")
    } else {
        format!("^{ws}*{inner}{ws}*$")
    }
}

/// A JSON string, as is.
pub fn string(value: Value) -> FieldResult<String> {
    match value {
        Value::String(raw) => Ok(raw),
        _ => Err("must be a string".into()),
    }
}

/// Trims a string, and checks its length in characters (and that it holds no NUL).
pub fn trimmed(raw: &str, min: usize, max: usize) -> FieldResult<String> {
    if raw.contains('\0') {
        return Err(NUL_MESSAGE.into());
    }
    let trimmed = raw.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 {
            "must not be empty".into()
        } else {
            format!("must be at least {min} characters")
        });
    }
    if len > max {
        return Err(format!("must be at most {max} characters"));
    }
    Ok(trimmed.to_string())
}

/// The longest email address accepted, in characters.
pub const EMAIL_MAX: usize = 254;

/// Trims, lower-cases and checks an email address (≤ [`EMAIL_MAX`] characters).
pub fn normalize_email(raw: &str) -> FieldResult<String> {
    let email = raw.trim().to_lowercase();
    if email.is_empty() {
        return Err("must not be empty".into());
    }
    if email.chars().count() > EMAIL_MAX {
        return Err(format!("must be at most {EMAIL_MAX} characters"));
    }
    let shape_ok = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if !shape_ok || !email_address::EmailAddress::is_valid(&email) {
        return Err("must be a valid email address".into());
    }
    Ok(email)
}

/// The bounds of a new password, in characters.
pub const PASSWORD_MIN: usize = 8;
pub const PASSWORD_MAX: usize = 128;

/// Passwords are taken exactly as given (never trimmed: spaces may be part of them).
pub fn check_password(password: &str) -> FieldResult<()> {
    let len = password.chars().count();
    if len < PASSWORD_MIN {
        return Err(format!("must be at least {PASSWORD_MIN} characters"));
    }
    if len > PASSWORD_MAX {
        return Err(format!("must be at most {PASSWORD_MAX} characters"));
    }
    Ok(())
}

/// A project's dates: the due date is not before the start date (either may be missing).
pub fn dates_in_order(start: Option<NaiveDate>, due: Option<NaiveDate>) -> Result<(), FieldError> {
    match (start, due) {
        (Some(start), Some(due)) if due < start => {
            Err(FieldError::new("due_date", "must not be before start_date"))
        }
        _ => Ok(()),
    }
}

/// An RFC 3339 timestamp with a time zone (`2026-12-31T23:59:59Z`), as UTC.
pub fn timestamp(value: Value) -> FieldResult<DateTime<Utc>> {
    let Value::String(raw) = value else {
        return Err("must be an RFC 3339 timestamp string".into());
    };
    DateTime::parse_from_rfc3339(raw.trim())
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 timestamp (e.g. 2026-12-31T23:59:59Z)".into())
}

pub fn boolean(value: Value) -> FieldResult<bool> {
    value.as_bool().ok_or_else(|| "must be a boolean".into())
}

pub fn uuid(value: Value) -> FieldResult<Uuid> {
    let Value::String(raw) = value else {
        return Err("must be a UUID string".into());
    };
    Uuid::parse_str(raw.trim()).map_err(|_| "must be a UUID".into())
}

pub fn date(value: Value) -> FieldResult<NaiveDate> {
    let Value::String(raw) = value else {
        return Err("must be a date string (YYYY-MM-DD)".into());
    };
    parse_date(raw.trim())
}

pub fn parse_date(raw: &str) -> FieldResult<NaiveDate> {
    // Exactly YYYY-MM-DD: chrono alone would also accept e.g. `2026-1-5`.
    let shape_ok = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return Err("must be a date in the form YYYY-MM-DD".into());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| "must be a valid calendar date".into())
}

/// A value of a closed set of lower-case names (an API enum).
pub trait ApiEnum: Sized + Copy + 'static {
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;

    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == raw)
    }

    fn expected() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
        format!("must be one of: {}", names.join(", "))
    }
}

pub fn one_of<E: ApiEnum>(value: Value) -> FieldResult<E> {
    let Value::String(raw) = value else {
        return Err(E::expected());
    };
    E::parse(raw.trim()).ok_or_else(E::expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_trimmed_and_measured_in_characters() {
        assert_eq!(trimmed("  ab ", 1, 2), Ok("ab".into()));
        assert!(trimmed("   ", 1, 5).is_err());
        assert!(trimmed("ééé", 1, 2).is_err());
        assert_eq!(trimmed("éé", 1, 2), Ok("éé".into()));
        assert_eq!(trimmed("a\u{0}b", 0, 5), Err(NUL_MESSAGE.into()));
        assert!(string(json!(5)).is_err());
    }

    #[test]
    fn the_white_space_of_the_patterns_is_what_trim_removes() {
        let listed = |c: char| WHITE_SPACE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c));
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(c.is_whitespace(), listed(c), "U+{:04X}", u32::from(c));
        }
        let pattern = trimmed_pattern(1, 200);
        assert!(
            pattern.starts_with(r"^[\u0009-\u000d\u0020\u0085"),
            "{pattern}"
        );
        assert!(pattern.contains(r"{0,198}"), "{pattern}");
    }

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email("  Ada@Example.COM "),
            Ok("ada@example.com".into())
        );
        for bad in ["", "ada", "ada@", "@x.org", "a b@x.org", "a@b@c.org"] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(normalize_email(&long).is_err());
    }

    #[test]
    fn passwords_have_length_bounds_and_are_not_trimmed() {
        assert!(check_password("1234567").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password(&"x".repeat(129)).is_err());
    }

    #[test]
    fn due_dates_are_not_before_start_dates() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 11, d);
        assert!(dates_in_order(day(2), day(2)).is_ok());
        assert!(dates_in_order(None, day(1)).is_ok());
        assert_eq!(
            dates_in_order(day(2), day(1)).map_err(|e| e.field),
            Err("due_date".to_string())
        );
    }

    #[test]
    fn dates_must_be_strict() {
        assert!(parse_date("2026-11-26").is_ok());
        for bad in [
            "2026-1-5",
            "2026-02-30",
            "26-11-2026",
            "2026-11-26T00:00:00Z",
            "",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
