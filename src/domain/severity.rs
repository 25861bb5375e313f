//! [`Severity`]: how bad an event is (SPEC §6.1), computed once at ingest and stored with the event.

use std::fmt;
use std::str::FromStr;

use super::{ErrorCode, UnknownSpelling, ValidationError};

/// An event's severity, most severe first. `Ord` follows severity: `Critical > Error > … > Debug`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Debugging detail.
    Debug,
    /// Ordinary.
    Info,
    /// Something degraded or throttled.
    Warning,
    /// Something failed.
    Error,
    /// Something is down.
    Critical,
}

impl Severity {
    /// Every severity, most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::Error,
        Severity::Warning,
        Severity::Info,
        Severity::Debug,
    ];

    /// The wire and column form: `critical`, `error`, `warning`, `info`, `debug`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }

    /// Parses a comma list (`error,critical`) as given to the `severity` filter of `field`.
    ///
    /// # Errors
    /// `invalid_parameter` naming `field` for an empty list or an unknown name.
    pub fn parse_list(raw: &str, field: &str) -> Result<Vec<Severity>, ValidationError> {
        let mut out = Vec::new();
        for part in raw.split(',').map(str::trim) {
            let severity = part.parse::<Severity>().map_err(|_| {
                ValidationError::new(
                    ErrorCode::InvalidParameter,
                    Some(field.to_owned()),
                    format!(
                        "{field} must be a comma list of critical, error, warning, info, debug; got {part:?}"
                    ),
                )
            })?;
            if !out.contains(&severity) {
                out.push(severity);
            }
        }
        Ok(out)
    }
}

impl FromStr for Severity {
    type Err = UnknownSpelling;

    /// Exact, lowercase names only (the stored and wire form).
    fn from_str(s: &str) -> Result<Severity, UnknownSpelling> {
        Severity::ALL
            .into_iter()
            .find(|severity| severity.as_str() == s)
            .ok_or_else(|| UnknownSpelling::new("severity", s))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_order_by_how_bad_they_are_and_round_trip_their_names() {
        assert!(Severity::Critical > Severity::Error);
        assert!(Severity::Warning > Severity::Info);
        assert!(Severity::Info > Severity::Debug);
        for severity in Severity::ALL {
            assert_eq!(severity.as_str().parse::<Severity>(), Ok(severity));
        }
    }

    #[test]
    fn a_severity_list_is_parsed_deduplicated_and_unknown_names_name_the_field() {
        assert_eq!(
            Severity::parse_list("error, critical,error", "severity").unwrap(),
            vec![Severity::Error, Severity::Critical]
        );
        for bad in ["", "fatal", "error,", "ERROR"] {
            let err = Severity::parse_list(bad, "severity").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidParameter, "{bad}");
            assert_eq!(err.field.as_deref(), Some("severity"));
        }
    }
}
