//! Times as people read them: Unix seconds in the box's time zone. Shared by the pages, the
//! API's plain-language texts and the CLI, so a time reads the same everywhere.

/// `2026-12-02 14:05` in the box's time zone (empty for a time out of range).
pub fn format_time(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

/// `14:05:09` in the box's time zone: a deadline a few seconds or minutes away.
pub fn format_clock(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|ts| {
            ts.to_zoned(jiff::tz::TimeZone::system())
                .strftime("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}
