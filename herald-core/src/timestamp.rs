//! The one timestamp format Herald speaks: RFC 3339, UTC, milliseconds, `Z`.
//!
//! SPEC says every timestamp on the wire looks like `2026-11-22T10:00:00.000Z`. Storing at millisecond precision
//! (rather than chrono's nanoseconds) is what makes an event read back equal to the event written, whichever
//! database holds it.

use chrono::{DateTime, NaiveDate, SecondsFormat, SubsecRound, Utc};

/// Formats `at` as RFC 3339 in UTC with exactly three fractional digits and a `Z` suffix.
///
/// Sub-millisecond digits are cut, not rounded, matching [`truncate_to_millis`], so formatting a stored value and
/// parsing it back is lossless.
pub fn format_timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Cuts `at` down to whole milliseconds (toward the past), the precision Herald stores.
pub fn truncate_to_millis(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(3)
}

/// Parses an RFC 3339 timestamp that carries an explicit offset (`Z` or `±hh:mm`) and converts it to UTC.
///
/// A bare date or a local time without offset is refused (`None`): guessing the zone of an event's time is how
/// events end up an hour out. Full precision is kept; callers that store the value truncate it.
pub fn parse_rfc3339_with_offset(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Parses a time bound as a query or a filter gives it (SPEC §6): RFC 3339 with an offset, or a bare date
/// (`2026-11-22`) meaning UTC midnight. One rule for the events list's `from`/`to` and a saved view's filters.
pub fn parse_time_bound(s: &str) -> Option<DateTime<Utc>> {
    parse_rfc3339_with_offset(s).or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|date| date.and_hms_opt(0, 0, 0))
            .map(|midnight| midnight.and_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_rfc3339_with_offset(s).expect(s)
    }

    #[test]
    fn timestamps_format_with_three_fractional_digits_and_z() {
        let at = Utc
            .with_ymd_and_hms(2026, 11, 22, 10, 0, 0)
            .single()
            .expect("valid");
        assert_eq!(format_timestamp(at), "2026-11-22T10:00:00.000Z");
    }

    #[test]
    fn formatting_cuts_sub_millisecond_digits_instead_of_rounding() {
        assert_eq!(
            format_timestamp(utc("2026-11-22T10:00:00.123999Z")),
            "2026-11-22T10:00:00.123Z"
        );
    }

    #[test]
    fn truncation_drops_everything_below_a_millisecond() {
        let at = utc("2026-11-22T10:00:00.987654321Z");
        assert_eq!(truncate_to_millis(at), utc("2026-11-22T10:00:00.987Z"));
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        assert_eq!(
            utc("2026-11-22T12:30:00+02:30"),
            utc("2026-11-22T10:00:00Z")
        );
        assert_eq!(
            format_timestamp(utc("2026-11-22T05:00:00.5-05:00")),
            "2026-11-22T10:00:00.500Z"
        );
    }

    #[test]
    fn a_bare_date_is_not_accepted() {
        assert_eq!(parse_rfc3339_with_offset("2026-11-22"), None);
    }

    #[test]
    fn a_time_without_an_offset_is_not_accepted() {
        assert_eq!(parse_rfc3339_with_offset("2026-11-22T10:00:00"), None);
        assert_eq!(parse_rfc3339_with_offset("2026-11-22T10:00:00.000"), None);
    }

    #[test]
    fn garbage_is_not_accepted() {
        for bad in ["", "yesterday", "1732269600000", "2026-13-01T00:00:00Z"] {
            assert_eq!(parse_rfc3339_with_offset(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatted_timestamps_parse_back_to_the_same_instant() {
        let at = truncate_to_millis(utc("2026-11-22T10:00:00.123456Z"));
        assert_eq!(parse_rfc3339_with_offset(&format_timestamp(at)), Some(at));
    }

    #[test]
    fn a_time_bound_is_rfc3339_with_offset_or_a_bare_date_at_utc_midnight() {
        assert_eq!(
            parse_time_bound("2026-11-22"),
            Some(utc("2026-11-22T00:00:00Z"))
        );
        assert_eq!(
            parse_time_bound("2026-11-22T10:00:00+02:00"),
            Some(utc("2026-11-22T08:00:00Z"))
        );
        for bad in ["2026-11-22T10:00:00", "22/11/2026", "yesterday", ""] {
            assert_eq!(parse_time_bound(bad), None, "{bad}");
        }
    }
}
