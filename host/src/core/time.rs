//! Time as the core sees it: instants handed in by the caller (the core never reads a
//! clock) and the reference's JSON spellings: RFC 3339 instants and integer nanoseconds.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// An instant in UTC. Every "now" in the core is one of these, passed in by the shell.
pub type Timestamp = DateTime<Utc>;

/// The longest configured duration we accept (one year). Anything longer is almost
/// certainly a unit mistake (seconds given where nanoseconds were meant).
pub const MAX_CONFIG_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`): what a never-set instant reads as in
/// the reference's JSON.
pub fn zero_time() -> Timestamp {
    chrono::NaiveDate::from_ymd_opt(1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `later - earlier` as a signed span (negative when `later` is before `earlier`).
pub fn since(later: Timestamp, earlier: Timestamp) -> TimeDelta {
    later.signed_duration_since(earlier)
}

/// `span >= d` for a signed span and an unsigned duration, without overflow.
pub fn at_least(span: TimeDelta, d: Duration) -> bool {
    match TimeDelta::from_std(d) {
        Ok(d) => span >= d,
        // `d` beyond TimeDelta's range (hundreds of millions of years): nothing reaches it.
        Err(_) => false,
    }
}

/// `span > d` for a signed span and an unsigned duration, without overflow.
pub fn more_than(span: TimeDelta, d: Duration) -> bool {
    match TimeDelta::from_std(d) {
        Ok(d) => span > d,
        Err(_) => false,
    }
}

/// Formats an instant as Go's `RFC3339Nano` does: UTC as `Z`, fraction without
/// trailing zeros.
pub fn format_rfc3339(t: &Timestamp) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{base}.{}Z", fraction.trim_end_matches('0'))
}

/// Serde for [`Timestamp`] as an RFC 3339 string (any offset in, UTC out).
pub mod rfc3339 {
    use super::*;

    /// Writes the instant in Go's `RFC3339Nano` spelling.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(t))
    }

    /// Reads an RFC 3339 instant with any offset.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                serde::de::Error::custom(format!("{text:?} is not an RFC 3339 timestamp ({e})"))
            })
    }
}

/// Serde for a configured [`Duration`] as integer nanoseconds, refusing negative,
/// fractional and absurd (over [`MAX_CONFIG_DURATION`]) values.
pub mod config_nanos {
    use super::*;

    /// Writes the duration as integer nanoseconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    /// Reads integer nanoseconds, within 0 and [`MAX_CONFIG_DURATION`].
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        use serde::de::Error;
        let value = serde_json::Number::deserialize(d)?;
        let Some(nanos) = value.as_i64() else {
            return Err(D::Error::custom(format!(
                "duration {value} is not a whole number of nanoseconds within range"
            )));
        };
        if nanos < 0 {
            return Err(D::Error::custom(format!("duration {nanos}ns is negative")));
        }
        let duration = Duration::from_nanos(nanos.unsigned_abs());
        if duration > MAX_CONFIG_DURATION {
            return Err(D::Error::custom(format!(
                "duration {nanos}ns ({}s) is longer than a year; durations are in nanoseconds",
                duration.as_secs()
            )));
        }
        Ok(duration)
    }
}

/// A duration for people: `0s`, `850µs`, `15ms`, `4.2s`, `10s`, `2m30s`.
pub(crate) fn human_duration(d: Duration) -> String {
    let micros = d.as_micros();
    if micros == 0 {
        "0s".to_owned()
    } else if micros < 1_000 {
        format!("{micros}µs")
    } else if micros < 1_000_000 {
        format!("{}ms", micros / 1_000)
    } else if d.as_secs() < 120 {
        let tenths = d.as_millis() / 100;
        if tenths.is_multiple_of(10) {
            format!("{}s", tenths / 10)
        } else {
            format!("{}.{}s", tenths / 10, tenths % 10)
        }
    } else {
        format!("{}m{}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_go_rfc3339nano() {
        let t = DateTime::parse_from_rfc3339("2020-11-02T15:00:00.120+01:00")
            .map(|t| t.with_timezone(&Utc))
            .expect("valid");
        assert_eq!(format_rfc3339(&t), "2020-11-02T14:00:00.12Z");
        assert_eq!(format_rfc3339(&zero_time()), "0001-01-01T00:00:00Z");
    }
}
