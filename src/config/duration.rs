//! Human durations in config files ("60s", "1h", "30d").

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// A duration written the way people write them; parsed with `humantime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).map(Dur).map_err(serde::de::Error::custom)
    }
}

/// Parses "60s", "1h 30m", "30d"; the error names the bad value.
pub fn parse(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); write e.g. \"60s\", \"15m\", \"1h\", \"30d\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse("30d").unwrap(), Duration::from_secs(30 * 86400));
        assert!(parse("ten seconds").unwrap_err().contains("invalid duration"));
    }
}
