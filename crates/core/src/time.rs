//! Timestamp rendering: RFC 3339, UTC, milliseconds, `Z` (`2026-11-26T10:00:00.123Z`).

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

pub fn format(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// `#[serde(serialize_with = "crate::time::rfc3339")]`
pub fn rfc3339<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(at))
}

/// The same for an optional timestamp (`null` when unset).
pub fn rfc3339_opt<S: Serializer>(at: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => s.serialize_str(&format(at)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_millis_and_z() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-11-26T10:00:00.123456+00:00")
            .expect("valid")
            .to_utc();
        assert_eq!(super::format(&at), "2026-11-26T10:00:00.123Z");
    }
}
