//! The timestamp formats ACS puts on the wire.

pub(super) use azure_core::time::OffsetDateTime;

/// The current time in UTC.
pub(super) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// `2023-01-17T13:48:04.3931159+00:00`: .NET's round-trip format, seven fractional digits and an
/// explicit offset, as in `expiresOn` and `lastTokenIssuedAt`. `at` must be in UTC.
pub(super) fn dotnet_round_trip(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.nanosecond() / 100
    )
}

/// `yyyyMMddHHmmss`, the prefix of SMS message ids.
pub(super) fn compact(at: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_format_has_seven_fraction_digits() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_673_963_284_393_115_900)
            .expect("valid timestamp");
        assert_eq!(dotnet_round_trip(at), "2023-01-17T13:48:04.3931159+00:00");
        assert_eq!(compact(at), "20230117134804");
    }
}
