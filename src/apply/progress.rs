//! Progress reporting for apply: a progress bar on a terminal, one plain line per
//! event otherwise (and in CI logs). Both write to stderr.
//!
//! A step that runs long is never silent: without a terminal, a "still running … [20s
//! elapsed] (task …, 40 %)" line every [`HEARTBEAT`]; on a terminal the bar ticks
//! steadily and shows the longest-running step (IP first, so 80 columns keep it), its
//! elapsed time and its Tars task. [`Progress::tick`] is called about once a second.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use super::engine::{Event, Reporter};
use crate::tars::board::{self, TaskProgress};

/// How often a running step is reported without a terminal.
pub const HEARTBEAT: Duration = Duration::from_secs(10);

/// A step in flight: when it started and when it was last reported.
struct Running {
    started: Instant,
    reported: Instant,
}

pub struct Progress {
    bar: Option<ProgressBar>,
    running: Mutex<HashMap<String, Running>>,
}

impl Progress {
    /// `total` steps; a bar only when `interactive`.
    pub fn new(total: usize, interactive: bool) -> Self {
        let bar = interactive.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed:>4} {bar:16} {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            running: Mutex::new(HashMap::new()),
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn elapsed(&self, step: &str) -> String {
        let started = self.running.lock().expect("progress lock").remove(step);
        started
            .map(|r| format!(" [{:.1}s]", r.started.elapsed().as_secs_f64()))
            .unwrap_or_default()
    }

    /// Heartbeat lines (no terminal) or the bar's message (terminal), as of now.
    pub fn tick(&self) {
        let now = Instant::now();
        let mut running = self.running.lock().expect("progress lock");
        match &self.bar {
            Some(bar) => {
                let oldest = running.iter().min_by_key(|(id, r)| (r.started, id.as_str()));
                if let Some((step, r)) = oldest {
                    let more = match running.len() {
                        1 => String::new(),
                        n => format!(" +{}", n - 1),
                    };
                    let task = board::of(step);
                    bar.set_message(format!(
                        "{}{more}",
                        bar_message(step, now - r.started, task.as_ref())
                    ));
                }
            }
            None => {
                let mut due: Vec<(&String, &mut Running)> = running
                    .iter_mut()
                    .filter(|(_, r)| now - r.reported >= HEARTBEAT)
                    .collect();
                due.sort_by_key(|(id, r)| (r.started, id.to_string()));
                for (step, r) in due {
                    r.reported = now;
                    eprintln!(
                        "{}",
                        still_running(step, now - r.started, board::of(step).as_ref())
                    );
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Whole seconds, as people read elapsed time: `20s`, `2m05s`.
fn seconds(elapsed: Duration) -> String {
    let s = elapsed.as_secs();
    if s < 60 {
        format!("{s}s")
    } else {
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

fn task_note(task: Option<&TaskProgress>) -> String {
    task.map(|t| format!(" (task {}, {} %)", t.task_no, t.percent))
        .unwrap_or_default()
}

/// "  start node[…][…]: still running… [20s elapsed] (task 1700…, 40 %)".
pub fn still_running(step: &str, elapsed: Duration, task: Option<&TaskProgress>) -> String {
    format!(
        "  {step}: still running… [{} elapsed]{}",
        seconds(elapsed),
        task_note(task)
    )
}

/// "172.25.0.5 start 12s (task …, 40 %) agencyABcosRpcService": the IP, the operation,
/// the time and the task first, so 80 columns keep them; the server name may be cut.
pub fn bar_message(step: &str, elapsed: Duration, task: Option<&TaskProgress>) -> String {
    let label = short_label(step);
    // Tars task ids are 32 hex digits: the first 8 tell tasks apart on a terminal.
    let short = task.map(|t| TaskProgress {
        task_no: match t.task_no.char_indices().nth(8) {
            Some((end, _)) => format!("{}…", &t.task_no[..end]),
            None => t.task_no.clone(),
        },
        percent: t.percent,
    });
    let timing = format!("{}{}", seconds(elapsed), task_note(short.as_ref()));
    match label
        .split_once(' ')
        .and_then(|(ip, rest)| Some((ip, rest.split_once(' ')?)))
    {
        Some((ip, (op, server))) if ip.parse::<std::net::IpAddr>().is_ok() => {
            format!("{ip} {op} {timing} {server}")
        }
        _ => format!("{label} {timing}"),
    }
}

/// `op node["server"]["ip"]…` as `ip op server …`; other ids unchanged.
pub fn short_label(step: &str) -> String {
    let Some((op, address)) = step.split_once(' ') else {
        return step.to_string();
    };
    let keys: Vec<&str> = address
        .split('"')
        .skip(1)
        .step_by(2)
        .filter(|k| !k.is_empty())
        .collect();
    match keys.as_slice() {
        [server, ip, rest @ ..] if ip.parse::<std::net::IpAddr>().is_ok() => {
            let mut label = format!("{ip} {op} {server}");
            for key in rest {
                label.push(' ');
                label.push_str(key);
            }
            label
        }
        _ => step.to_string(),
    }
}

impl Reporter for Progress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { step } => {
                let now = Instant::now();
                self.running.lock().expect("progress lock").insert(
                    step.to_string(),
                    Running {
                        started: now,
                        reported: now,
                    },
                );
                match &self.bar {
                    Some(bar) => bar.set_message(short_label(step)),
                    None => eprintln!("  {step}: started"),
                }
            }
            Event::Completed { step } => {
                let took = self.elapsed(step);
                if let Some(bar) = &self.bar {
                    bar.inc(1);
                }
                self.line(format!("  {step}: done{took}"));
            }
            Event::Failed { step, error } => {
                let took = self.elapsed(step);
                self.line(format!("  {step}: FAILED{took}: {error}"));
            }
            Event::Skipped { step } => self.line(format!("  {step}: not started")),
            Event::UndoStarted { step } => self.line(format!("  undo {step}: started")),
            Event::Undone { step } => self.line(format!("  undo {step}: done")),
            Event::UndoFailed { step, error } => self.line(format!("  undo {step}: FAILED: {error}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEP: &str = "start node[\"agencyABcosRpcService\"][\"172.25.0.5\"]";

    #[test]
    fn a_long_step_reads_like_terraform_still_running() {
        let task = TaskProgress {
            task_no: "17006".into(),
            percent: 40,
        };
        assert_eq!(
            still_running(STEP, Duration::from_millis(20_400), Some(&task)),
            format!("  {STEP}: still running… [20s elapsed] (task 17006, 40 %)")
        );
        assert_eq!(
            still_running(STEP, Duration::from_secs(125), None),
            format!("  {STEP}: still running… [2m05s elapsed]")
        );
    }

    #[test]
    fn the_bar_message_keeps_the_ip_within_80_columns() {
        let message = bar_message(STEP, Duration::from_secs(12), None);
        assert_eq!(message, "172.25.0.5 start 12s agencyABcosRpcService");
        let task = TaskProgress {
            task_no: "17006".into(),
            percent: 40,
        };
        let message = bar_message(STEP, Duration::from_secs(12), Some(&task));
        assert_eq!(
            message,
            "172.25.0.5 start 12s (task 17006, 40 %) agencyABcosRpcService"
        );
        // The template's fixed part ("⠁ 12s ████████████████ 10/10 ") leaves the rest.
        assert!(message.find(" %)").unwrap() + 3 < 80 - 30);
        let uuid = TaskProgress {
            task_no: "356859acfbe24fad8dd1067c0e3a9b21".into(),
            percent: 5,
        };
        assert_eq!(
            bar_message(STEP, Duration::from_secs(3), Some(&uuid)),
            "172.25.0.5 start 3s (task 356859ac…, 5 %) agencyABcosRpcService"
        );
        assert_eq!(
            bar_message("preflight", Duration::from_secs(3), None),
            "preflight 3s"
        );
        assert_eq!(
            short_label("push-config config[\"agencyABcosGatewayService\"][\"10.0.0.1\"][\"config.ini\"]"),
            "10.0.0.1 push-config agencyABcosGatewayService config.ini"
        );
        assert_eq!(short_label("preflight"), "preflight");
        assert_eq!(short_label("create-ca ca[\"rpc\"]"), "create-ca ca[\"rpc\"]");
    }
}
