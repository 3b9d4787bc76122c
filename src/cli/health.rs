//! `--settle` and `--start-timeout`: when a started node counts as running.

use std::time::Duration;

use clap::Args;

use crate::apply::tars_ops::Timing;

#[derive(Debug, Clone, Args)]
pub struct HealthArgs {
    /// A started node must stay `active` with one process id this long (e.g. 5s, 500ms).
    #[arg(long = "settle", value_name = "DURATION", env = "TARSFORM_SETTLE", default_value = "5s", value_parser = parse_duration)]
    pub settle: Duration,
    /// How long a started node may take to become `active` before the step fails.
    #[arg(long = "start-timeout", value_name = "DURATION", env = "TARSFORM_START_TIMEOUT", default_value = "120s", value_parser = parse_duration)]
    pub start_timeout: Duration,
    /// The most nodes started, stopped, restarted or undeployed with one Tars task (1 to 100; 1: one task a node).
    #[arg(long = "task-batch", value_name = "N", env = "TARSFORM_TASK_BATCH", default_value_t = crate::apply::tars_ops::DEFAULT_TASK_BATCH, value_parser = parse_task_batch)]
    pub task_batch: usize,
}

impl HealthArgs {
    pub fn timing(&self) -> Timing {
        Timing {
            task_batch: self.task_batch,
            ..Timing::for_settle(self.settle, self.start_timeout)
        }
    }
}

/// A whole number of nodes per task, 1 to 100.
fn parse_task_batch(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=100).contains(&n) => Ok(n),
        _ => Err(format!(
            "`{text}` is not a batch size; write how many nodes one task may hold, 1 to 100 (1: one task a node)"
        )),
    }
}

/// `250ms`, `5s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write it like 500ms, 5s or 2m"))?;
    let seconds = match unit.trim() {
        "ms" => value / 1000.0,
        "" | "s" => value,
        "m" => value * 60.0,
        other => return Err(format!("unknown unit `{other}` in `{text}`; use ms, s or m")),
    };
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("`{text}` is out of range (0 to 24h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for bad in ["", "fast", "5h", "-1s", "1e9"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_task_batch_is_1_to_100_nodes() {
        assert_eq!(parse_task_batch("5"), Ok(5));
        assert_eq!(parse_task_batch("1"), Ok(1));
        for bad in ["0", "101", "-1", "five", ""] {
            let err = parse_task_batch(bad).unwrap_err();
            assert!(err.contains("1 to 100"), "{bad}: {err}");
        }
    }
}
