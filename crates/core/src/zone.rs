//! Time zone names.
//!
//! A job's zone is its own `timeZone`, else the object's, else the controller default
//! (`--default-time-zone`, else `$TZ`, else UTC). Names are looked up in the tz database bundled
//! into the binary, so every build resolves the same names the same way, whatever the host has.
use jiff::tz::TimeZone;

/// An unknown or malformed time zone name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", describe(name))]
pub struct ZoneError {
    /// The name as given.
    pub name: String,
}

fn describe(name: &str) -> String {
    if name.trim().is_empty() {
        "empty time zone name; expected an IANA name such as `Europe/Berlin`, or `UTC`".to_owned()
    } else {
        format!(
            "unknown time zone {name:?}; expected an IANA name such as `Europe/Berlin` or \
             `America/New_York`, or `UTC`"
        )
    }
}

/// Looks up an IANA zone name (`Asia/Shanghai`, `UTC`) in the bundled tz database.
pub fn resolve_zone(name: &str) -> Result<TimeZone, ZoneError> {
    let error = || ZoneError { name: name.to_owned() };
    if name.is_empty() || name != name.trim() {
        return Err(error());
    }
    if name == "UTC" {
        return Ok(TimeZone::UTC);
    }
    jiff::tz::db().get(name).map_err(|_| error())
}

/// The controller's default zone name when `--default-time-zone` is not given: the value of
/// `$TZ` (passed in as `tz_env`) when set and not empty, without a leading `:`, else `UTC`.
pub fn default_zone_name(tz_env: Option<&str>) -> String {
    match tz_env.map(|tz| tz.strip_prefix(':').unwrap_or(tz)) {
        Some(tz) if !tz.is_empty() => tz.to_owned(),
        _ => "UTC".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_iana_names_and_utc() {
        assert_eq!(resolve_zone("UTC").unwrap(), TimeZone::UTC);
        assert_eq!(resolve_zone("Asia/Shanghai").unwrap().iana_name(), Some("Asia/Shanghai"));
        assert_eq!(resolve_zone("America/New_York").unwrap().iana_name(), Some("America/New_York"));
        assert!(resolve_zone("Etc/UTC").is_ok());
    }

    #[test]
    fn rejects_empty_and_unknown_names() {
        let empty = resolve_zone("").unwrap_err();
        assert!(empty.to_string().contains("empty time zone name"), "{empty}");
        let unknown = resolve_zone("Mars/Olympus_Mons").unwrap_err();
        assert_eq!(unknown.name, "Mars/Olympus_Mons");
        assert!(unknown.to_string().contains("unknown time zone \"Mars/Olympus_Mons\""), "{unknown}");
        assert!(resolve_zone(" UTC").is_err());
    }

    #[test]
    fn default_zone_comes_from_tz_else_utc() {
        assert_eq!(default_zone_name(None), "UTC");
        assert_eq!(default_zone_name(Some("")), "UTC");
        assert_eq!(default_zone_name(Some(":")), "UTC");
        assert_eq!(default_zone_name(Some("Europe/Berlin")), "Europe/Berlin");
        assert_eq!(default_zone_name(Some(":Asia/Tokyo")), "Asia/Tokyo");
    }
}
