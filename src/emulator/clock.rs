//! Timestamps in TarsWeb's formats (UTC): `YYYY-MM-DD HH:MM:SS` and raw ISO dates.

use time::OffsetDateTime;
use time::macros::format_description;

/// The `1970-01-01 00:00:00` TarsWeb stores as "never".
pub const EPOCH: &str = "1970-01-01 00:00:00";

/// Now, as `YYYY-MM-DD HH:MM:SS`.
pub fn now() -> String {
    let format = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    OffsetDateTime::now_utc()
        .format(&format)
        .expect("a fixed format always formats")
}

/// Milliseconds since the epoch (`Date.now()`).
pub fn now_millis() -> i128 {
    OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

/// `YYYY-MM-DD HH:MM:SS` → the ISO string a raw JS `Date` serializes to.
pub fn iso(formatted: &str) -> String {
    format!("{}.000Z", formatted.replacen(' ', "T", 1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::iso(super::EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::now().len(), 19);
    }
}
