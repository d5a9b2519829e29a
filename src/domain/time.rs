//! Timestamps: stored as microseconds since the Unix epoch, shown as RFC 3339
//! UTC with exactly six fractional digits and a `Z`.

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(Utc::now().timestamp_micros())
    }

    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    /// An RFC 3339 date-time, or a `YYYY-MM-DD` date (midnight UTC).
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(Self(t.timestamp_micros()));
        }
        // ISO 8601 without an offset, read as UTC: what Python's
        // `datetime.isoformat()` gives for a naive time.
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
            return Some(Self(t.and_utc().timestamp_micros()));
        }
        let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        Some(Self(
            date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros(),
        ))
    }

    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    pub fn plus(self, d: std::time::Duration) -> Self {
        Self(self.0.saturating_add(d.as_micros() as i64))
    }

    pub fn to_rfc3339(self) -> String {
        DateTime::<Utc>::from_timestamp_micros(self.0)
            .unwrap_or_default()
            // Not `format(…)`: that parses its pattern on every call, and
            // every timestamp of every JSON response passes here.
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_with_microseconds_and_z() {
        assert_eq!(
            Timestamp::from_micros(1_770_807_669_574_095).to_rfc3339(),
            "2026-02-11T11:01:09.574095Z"
        );
        assert_eq!(
            Timestamp::from_micros(0).to_rfc3339(),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn parses_dates_and_date_times() {
        assert_eq!(
            Timestamp::parse("2026-02-11").unwrap().to_rfc3339(),
            "2026-02-11T00:00:00.000000Z"
        );
        assert_eq!(
            Timestamp::parse("2026-02-11T12:00:00+01:00")
                .unwrap()
                .to_rfc3339(),
            "2026-02-11T11:00:00.000000Z"
        );
        for naive in ["2024-05-01T12:00:00", "2024-05-01T12:00:00.250"] {
            let t = Timestamp::parse(naive).unwrap().to_rfc3339();
            assert!(t.starts_with("2024-05-01T12:00:00."), "{naive} → {t}");
        }
        assert!(Timestamp::parse("2024-05-01T12:00").is_none());
        assert!(Timestamp::parse("2024-05-01 12:00:00x").is_none());
        assert!(Timestamp::parse("11/02/2026").is_none());
        assert!(Timestamp::parse("2026-02-30").is_none());
    }
}
