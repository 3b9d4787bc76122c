//! `--timeout` of apply, destroy and rollback: one deadline for every Tars call of a run.

use std::time::Duration;

use clap::Args;

/// The default: room for a large expansion whose every task takes Tars minutes.
pub const DEFAULT_RUN_TIMEOUT: &str = "60m";

#[derive(Debug, Clone, Args)]
pub struct RunTimeoutArg {
    /// Stop calling Tars once the run has taken this long (e.g. 90s, 45m, 2h); what the
    /// run changed stays in its journal for `tarsform rollback` or `apply`.
    #[arg(
        long = "timeout",
        value_name = "DURATION",
        default_value = DEFAULT_RUN_TIMEOUT,
        value_parser = parse_duration
    )]
    pub timeout: Duration,
}

impl Default for RunTimeoutArg {
    fn default() -> Self {
        RunTimeoutArg {
            timeout: parse_duration(DEFAULT_RUN_TIMEOUT).unwrap_or(Duration::from_secs(3600)),
        }
    }
}

/// `90s`, `45m`, `2h` or plain seconds; at least one second.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return Err(format!("`{text}` is not a duration; write e.g. 90s, 45m or 2h")),
    };
    let seconds = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .filter(|&n| (1..=7 * 24 * 3600).contains(&n))
        .ok_or_else(|| {
            format!("`{text}` is not a duration between 1s and 168h; write e.g. 90s, 45m or 2h")
        })?;
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("45m"), Ok(Duration::from_secs(2700)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        for bad in ["", "0s", "1d", "m", "-5s", "99999999999999999999h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert_eq!(RunTimeoutArg::default().timeout, Duration::from_secs(3600));
    }
}
