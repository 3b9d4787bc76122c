//! Progress reporting for apply: a progress bar on a terminal, one plain line per
//! event otherwise (and in CI logs). Both write to stderr.

use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use super::engine::{Event, Reporter};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Mutex<std::collections::HashMap<String, Instant>>,
}

impl Progress {
    /// `total` steps; a bar only when `interactive`.
    pub fn new(total: usize, interactive: bool) -> Self {
        let bar = interactive.then(|| {
            let bar = ProgressBar::new(total as u64);
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            started: Mutex::new(Default::default()),
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn elapsed(&self, step: &str) -> String {
        let started = self.started.lock().expect("progress lock").remove(step);
        started
            .map(|t| format!(" [{:.1}s]", t.elapsed().as_secs_f64()))
            .unwrap_or_default()
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Reporter for Progress {
    fn event(&self, event: Event<'_>) {
        match event {
            Event::Started { step } => {
                self.started
                    .lock()
                    .expect("progress lock")
                    .insert(step.to_string(), Instant::now());
                match &self.bar {
                    Some(bar) => bar.set_message(step.to_string()),
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
