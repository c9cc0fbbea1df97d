//! Lenient datetime parsing and the one output form (DESIGN.md §4).
//!
//! Vendors send RFC 3339 with 0–9 fractional digits, `Z` or offsets, and (Truto) zone-less
//! `YYYY-MM-DD HH:MM:SS`. Everything becomes UTC; the output always has milliseconds and `Z`.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};

/// Parse any datetime form a vendor is known to send. Zone-less values are UTC.
pub fn parse_lenient(text: &str) -> Option<DateTime<Utc>> {
    // Nearly every value is already in the one common form, untrimmed.
    if let Some(parsed) = parse_utc_fast(text.as_bytes()) {
        return Some(parsed);
    }
    let text = text.trim();
    if let Some(parsed) = parse_utc_fast(text.as_bytes()) {
        return Some(parsed);
    }
    if let Ok(parsed) = DateTime::parse_from_rfc3339(text) {
        return Some(parsed.with_timezone(&Utc));
    }
    // RFC 3339 with a space instead of `T`, or a lower-case `t`/`z`.
    let normalised = text
        .replacen(' ', "T", 1)
        .replace('t', "T")
        .replace('z', "Z");
    if let Ok(parsed) = DateTime::parse_from_rfc3339(&normalised) {
        return Some(parsed.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&normalised, format) {
            return Some(Utc.from_utc_datetime(&naive));
        }
    }
    None
}

/// The form nearly every vendor value has, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]Z`, read without
/// chrono's general parser (a W3 query reads about 1,500 of them). `None` for anything else,
/// including values out of range, which the general path then reads or refuses as before.
fn parse_utc_fast(text: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(text: &[u8], range: std::ops::Range<usize>) -> Option<u32> {
        text.get(range)?.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    }
    let (head, zone) = text.split_at_checked(text.len().checked_sub(1)?)?;
    if zone != b"Z" || head.len() < 19 {
        return None;
    }
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|&(at, c)| head[at] != c) {
        return None;
    }
    let nanos = match &head[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            digits(fraction, 0..fraction.len())? * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(digits(head, 0..4)?).ok()?,
        digits(head, 5..7)?,
        digits(head, 8..10)?,
    )?;
    // Seconds 00–59 only: a leap second (60) goes the general way.
    let time = chrono::NaiveTime::from_hms_nano_opt(
        digits(head, 11..13)?,
        digits(head, 14..16)?,
        digits(head, 17..19).filter(|s| *s < 60)?,
        nanos,
    )?;
    Some(Utc.from_utc_datetime(&date.and_time(time)))
}

/// Parse a vendor datetime field, logging (not failing) when it cannot be read, so the rest of
/// the entry survives (DESIGN.md §4).
pub fn parse_field(source: &str, field: &str, value: Option<&str>) -> Option<DateTime<Utc>> {
    let text = value?;
    let parsed = parse_lenient(text);
    if parsed.is_none() {
        tracing::warn!(source, field, value = %crate::error::truncate_message(&crate::redact::scrub(text), 40), "unparseable datetime, using null");
    }
    parsed
}

/// The single output form: UTC, milliseconds, `Z`.
pub fn format_utc_ms(at: DateTime<Utc>) -> String {
    let mut text = [0u8; 24];
    match utc_ms_digits(at, &mut text).and_then(|()| std::str::from_utf8(&text).ok()) {
        Some(text) => text.to_owned(),
        None => at.to_rfc3339_opts(SecondsFormat::Millis, true),
    }
}

/// Append `at` as a JSON string in the output form (what `format_utc_ms` gives, quoted).
pub fn write_utc_ms_json(at: DateTime<Utc>, out: &mut Vec<u8>) {
    let mut text = [0u8; 24];
    out.push(b'"');
    match utc_ms_digits(at, &mut text) {
        Some(()) => out.extend_from_slice(&text),
        // Years outside 0–9999 and leap seconds: chrono's form, ASCII, nothing to escape.
        None => out.extend_from_slice(format_utc_ms(at).as_bytes()),
    }
    out.push(b'"');
}

/// The output form written digit by digit (a large answer has thousands of these), or `None`
/// for years outside 0–9999 and leap seconds, which take chrono's formatter.
fn utc_ms_digits(at: DateTime<Utc>, text: &mut [u8; 24]) -> Option<()> {
    use chrono::{Datelike, Timelike};
    let millis = at.timestamp_subsec_millis();
    let year = u32::try_from(at.year()).ok()?;
    if year > 9999 || millis > 999 {
        return None;
    }
    let mut put = |at: usize, width: u32, value: u32| {
        for i in 0..width {
            text[at + (width - 1 - i) as usize] = b'0' + (value / 10u32.pow(i) % 10) as u8;
        }
    };
    put(0, 4, year);
    put(5, 2, at.month());
    put(8, 2, at.day());
    put(11, 2, at.hour());
    put(14, 2, at.minute());
    put(17, 2, at.second());
    put(20, 3, millis);
    for (i, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        text[i] = c;
    }
    Some(())
}

/// Milliseconds since the epoch, the form cursors carry.
pub fn to_millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// Inverse of [`to_millis`]; out-of-range values are clamped to the epoch.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_every_vendor_form() {
        let cases = [
            ("2021-03-06T13:33:30.29Z", "2021-03-06T13:33:30.290Z"),
            ("2021-03-08T15:05:44.104Z", "2021-03-08T15:05:44.104Z"),
            ("2021-03-08T15:05:44.9999999Z", "2021-03-08T15:05:44.999Z"),
            ("2017-09-06T12:55:22.409+09:00", "2017-09-06T03:55:22.409Z"),
            ("2021-08-10 10:00:00", "2021-08-10T10:00:00.000Z"),
            ("2021-08-10T10:00:00", "2021-08-10T10:00:00.000Z"),
            ("2024-05-14T09:12:03Z", "2024-05-14T09:12:03.000Z"),
            ("2024-05-14 09:12:03.5+02:00", "2024-05-14T07:12:03.500Z"),
        ];
        for (input, expected) in cases {
            let parsed = parse_lenient(input).unwrap_or_else(|| panic!("{input} did not parse"));
            assert_eq!(format_utc_ms(parsed), expected, "{input}");
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_one() {
        for input in [
            "2021-03-06T13:33:30.29Z",
            "2024-05-14T09:12:03Z",
            "2021-03-08T15:05:44.9999999Z",
            "2021-03-08T15:05:44.123456789Z",
            "2020-02-29T23:59:59.999Z",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
        ] {
            let general = DateTime::parse_from_rfc3339(input)
                .map(|d| d.with_timezone(&Utc))
                .ok();
            assert_eq!(parse_utc_fast(input.as_bytes()), general, "{input}");
        }
        for other in [
            "2021-02-29T00:00:00.000Z",
            "2021-13-01T00:00:00Z",
            "2016-12-31T23:59:60.000Z",
            "2021-03-08T15:05:44.1234567890Z",
            "2021-03-08T15:05:44.Z",
            "2021-03-08T15:05:44+00:00",
            "2021-03-08 15:05:44Z",
            "2021-03-08t15:05:44z",
            "+2021-03-08T15:05:44Z",
            "2021-03-08T15:05Z",
        ] {
            assert_eq!(parse_utc_fast(other.as_bytes()), None, "{other}");
        }
        assert_eq!(
            parse_lenient("2016-12-31T23:59:60.000Z"),
            DateTime::parse_from_rfc3339("2016-12-31T23:59:60.000Z")
                .map(|d| d.with_timezone(&Utc))
                .ok()
        );
    }

    #[test]
    fn rejects_garbage() {
        for input in ["", "yesterday", "2021-13-01T00:00:00Z", "1715673600"] {
            assert!(parse_lenient(input).is_none(), "{input}");
        }
    }

    proptest! {
        #[test]
        fn output_round_trips(ms in 0i64..4_102_444_800_000) {
            let at = from_millis(ms);
            let text = format_utc_ms(at);
            prop_assert_eq!(parse_lenient(&text), Some(at));
            prop_assert!(text.ends_with('Z'));
            prop_assert_eq!(text.len(), 24);
        }

        #[test]
        fn formatting_matches_chrono(ms in -62_167_219_200_000i64..253_402_300_800_000, nanos in 0u32..1_000_000) {
            let at = from_millis(ms) + chrono::Duration::nanoseconds(i64::from(nanos));
            prop_assert_eq!(format_utc_ms(at), at.to_rfc3339_opts(SecondsFormat::Millis, true));
            let mut json = Vec::new();
            write_utc_ms_json(at, &mut json);
            prop_assert_eq!(json, serde_json::to_vec(&format_utc_ms(at)).expect("a string"));
        }

        #[test]
        fn the_fast_path_matches_chrono(ms in -62_135_596_800_000i64..253_402_300_799_999, digits in 0usize..10) {
            let at = from_millis(ms);
            let text = match digits {
                0 => at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                n => format!("{}.{}Z", at.format("%Y-%m-%dT%H:%M:%S"), &at.format("%f").to_string()[..n]),
            };
            let general = DateTime::parse_from_rfc3339(&text).map(|d| d.with_timezone(&Utc)).ok();
            prop_assert_eq!(parse_utc_fast(text.as_bytes()), general, "{}", text);
        }

        #[test]
        fn any_fraction_length_parses(secs in 0i64..4_000_000_000, digits in 1usize..10, frac in 0u64..1_000_000_000) {
            let base = Utc.timestamp_opt(secs, 0).single().unwrap_or_default();
            let frac_text = format!("{frac:09}");
            let text = format!("{}.{}Z", base.format("%Y-%m-%dT%H:%M:%S"), &frac_text[..digits]);
            let parsed = parse_lenient(&text);
            prop_assert!(parsed.is_some(), "{}", text);
            prop_assert_eq!(parsed.map(|p| p.timestamp()), Some(secs));
        }
    }
}
