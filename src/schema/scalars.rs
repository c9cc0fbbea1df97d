//! The `DateTime` scalar: RFC 3339, always UTC, millisecond precision, `Z` suffix.

use crate::domain::datetime::{format_utc_ms, parse_lenient};
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::Utc;

/// A UTC instant, emitted as `2024-05-14T09:12:03.118Z`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// RFC 3339, always UTC, millisecond precision, "Z" suffix. Inputs may use any fractional
/// precision and an offset; they are converted to UTC.
#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => chrono::DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|t| DateTime(t.with_timezone(&Utc)))
                .or_else(|| {
                    parse_lenient(text)
                        .filter(|_| text.contains('T'))
                        .map(DateTime)
                })
                .ok_or_else(|| {
                    InputValueError::custom(format!("`{text}` is not an RFC 3339 datetime"))
                }),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(format_utc_ms(self.0))
    }
}

/// Convert an optional domain datetime to the scalar.
pub fn dt(value: Option<chrono::DateTime<Utc>>) -> Option<DateTime> {
    value.map(DateTime)
}
