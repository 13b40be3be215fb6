//! Timestamps as Barbican writes and reads them.
//!
//! Barbican stores naive UTC times and prints them with Python's `isoformat()`: microseconds,
//! no offset, and no fraction at all when the microseconds are 0. It parses times with the
//! `iso8601` library, which accepts a date alone, minutes without seconds, fractions, `Z` and
//! numeric offsets.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

/// The current time as stored: naive UTC, truncated to microseconds.
pub fn now() -> NaiveDateTime {
    truncate_micros(Utc::now().naive_utc())
}

/// Drop sub-microsecond precision (what the database and the wire keep).
pub fn truncate_micros(t: NaiveDateTime) -> NaiveDateTime {
    let micros = t.nanosecond() / 1000 * 1000;
    t.with_nanosecond(micros).unwrap_or(t)
}

/// Python's `datetime.isoformat()` of a naive time with microsecond precision.
pub fn isoformat(t: &NaiveDateTime) -> String {
    format_iso(t, false)
}

/// A time with all six fraction digits, as Barbican's JSON encoder writes datetimes stored in
/// an order's `meta`.
pub fn isoformat_micros(t: &NaiveDateTime) -> String {
    format_iso(t, true)
}

/// `%Y-%m-%dT%H:%M:%S`, then `.` and six fraction digits when `always_fraction` or the
/// microseconds are not 0. Written from the fields (a list page formats twenty of these, and
/// chrono's `format` parses its format string again each time); a year outside 0–9999 or a
/// leap second, which chrono spells its own way, goes through chrono's formatter.
fn format_iso(t: &NaiveDateTime, always_fraction: bool) -> String {
    use std::fmt::Write;
    let nanos = t.nanosecond();
    let fraction = always_fraction || nanos / 1000 != 0;
    if !(0..=9999).contains(&t.year()) || nanos >= 1_000_000_000 {
        let pattern = if fraction {
            "%Y-%m-%dT%H:%M:%S%.6f"
        } else {
            "%Y-%m-%dT%H:%M:%S"
        };
        return t.format(pattern).to_string();
    }
    let mut out = String::with_capacity(26);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if fraction {
        let _ = write!(out, ".{:06}", nanos / 1000);
    }
    out
}

/// Parse an ISO-8601 time the way `oslo_utils.timeutils.parse_isotime` does, normalized to
/// naive UTC. `None` when the text is not a time.
pub fn parse_isotime(text: &str) -> Option<NaiveDateTime> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0);
    }
    // Split a trailing zone designator: Z, +HH:MM, +HHMM, +HH (after the time part).
    let (body, offset_secs) = split_zone(s)?;
    let body = body.replacen(' ', "T", 1);
    let formats = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y%m%dT%H%M%S%.f",
        "%Y%m%dT%H%M%S",
    ];
    let naive = formats
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&body, f).ok())?;
    let utc = naive.checked_sub_signed(chrono::Duration::seconds(offset_secs))?;
    Some(truncate_micros(utc))
}

fn split_zone(s: &str) -> Option<(String, i64)> {
    if let Some(rest) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Some((rest.to_owned(), 0));
    }
    // A sign after the 'T' (dates contain '-' themselves).
    let t = s.find(['T', 't', ' '])?;
    let Some(pos) = s[t..].rfind(['+', '-']).map(|p| p + t) else {
        return Some((s.to_owned(), 0));
    };
    let sign = if &s[pos..pos + 1] == "-" { -1 } else { 1 };
    let zone: String = s[pos + 1..].chars().filter(|c| *c != ':').collect();
    if zone.is_empty() || !zone.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (h, m) = match zone.len() {
        2 => (zone.parse::<i64>().ok()?, 0),
        4 => (
            zone[..2].parse::<i64>().ok()?,
            zone[2..].parse::<i64>().ok()?,
        ),
        _ => return None,
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some((s[..pos].to_owned(), sign * (h * 3600 + m * 60)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> Option<NaiveDateTime> {
        NaiveDate::from_ymd_opt(y, m, d).map(|d| d.and_time(chrono::NaiveTime::MIN))
    }

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    proptest::proptest! {
        /// The hand-written formatter spells every time as chrono's `format` does.
        #[test]
        fn isoformat_is_chronos_spelling(secs in -62_135_596_800i64..253_402_300_800i64,
                                         nanos in 0u32..2_000_000_000u32) {
            if let Some(t) = chrono::DateTime::from_timestamp(secs, nanos).map(|d| d.naive_utc()) {
                let plain = if t.nanosecond() / 1000 == 0 {
                    t.format("%Y-%m-%dT%H:%M:%S").to_string()
                } else {
                    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
                };
                proptest::prop_assert_eq!(isoformat(&t), plain);
                proptest::prop_assert_eq!(
                    isoformat_micros(&t),
                    t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
                );
            }
        }
    }

    #[test]
    fn years_chrono_spells_its_own_way_go_through_chrono() {
        let far = NaiveDate::from_ymd_opt(12345, 1, 2)
            .and_then(|d| d.and_hms_micro_opt(3, 4, 5, 6))
            .expect("a valid date");
        assert_eq!(isoformat(&far), "+12345-01-02T03:04:05.000006");
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31)
            .and_then(|d| d.and_hms_nano_opt(23, 59, 59, 1_500_000_000))
            .expect("a leap second");
        assert_eq!(
            isoformat(&leap),
            leap.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
        );
    }

    #[test]
    fn isoformat_matches_python() {
        assert_eq!(
            isoformat(&t("2026-11-23 20:08:51.829759")),
            "2026-11-23T20:08:51.829759"
        );
        assert_eq!(
            isoformat(&t("2026-11-23 20:08:51.000001")),
            "2026-11-23T20:08:51.000001"
        );
        assert_eq!(isoformat(&t("2026-11-23 20:08:51")), "2026-11-23T20:08:51");
        assert_eq!(
            isoformat(&t("2026-11-23 20:08:51.5")),
            "2026-11-23T20:08:51.500000"
        );
    }

    #[test]
    fn parses_what_iso8601_accepts() {
        let want = t("2099-12-31 19:14:44.180394");
        for s in [
            "2099-12-31T19:14:44.180394",
            "2099-12-31T19:14:44.180394Z",
            "2099-12-31T20:14:44.180394+01:00",
            "2099-12-31T18:14:44.180394-0100",
            "2099-12-31 19:14:44.180394",
            "  2099-12-31T19:14:44.180394  ",
        ] {
            assert_eq!(parse_isotime(s), Some(want), "{s}");
        }
        assert_eq!(parse_isotime("2099-12-31"), date(2099, 12, 31));
        assert_eq!(
            parse_isotime("2099-12-31T10:00"),
            Some(t("2099-12-31 10:00:00"))
        );
        assert_eq!(
            parse_isotime("2099-12-31T10:00:00+05"),
            Some(t("2099-12-31 05:00:00"))
        );
        assert_eq!(
            parse_isotime("2099-12-31T10:00:00.123456789"),
            Some(t("2099-12-31 10:00:00.123456"))
        );
        for bad in [
            "",
            "abc",
            "2099-13-01",
            "2099-12-31T25:00:00",
            "2099-12-31T10:00:00+99:00",
            "tomorrow",
        ] {
            assert_eq!(parse_isotime(bad), None, "{bad}");
        }
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().nanosecond() % 1000, 0);
        assert!(Utc::now().naive_utc() >= now() - chrono::Duration::seconds(1));
    }
}
