//! The `apply --json` reporter: each step event as one JSON line on stdout
//! (`view::events`), written whole under a lock so lines never interleave.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Instant;

use super::engine::{Event, Reporter};
use crate::state::store::now_rfc3339;
use crate::view::events::{self, StepEvent};

#[derive(Default)]
pub struct JsonLines {
    started: Mutex<HashMap<String, Instant>>,
}

impl JsonLines {
    /// Writes one message (already a line) to stdout.
    pub fn emit(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(line.as_bytes());
        let _ = out.flush();
    }

    fn elapsed(&self, step: &str) -> Option<f64> {
        let since = self.started.lock().expect("events lock").remove(step);
        since.map(|t| t.elapsed().as_secs_f64())
    }
}

impl Reporter for JsonLines {
    fn event(&self, event: Event<'_>) {
        let (step, what, elapsed) = match event {
            Event::Started { step } => {
                self.started
                    .lock()
                    .expect("events lock")
                    .insert(step.to_string(), Instant::now());
                (step, StepEvent::Started, None)
            }
            Event::Completed { step } => (step, StepEvent::Completed, self.elapsed(step)),
            Event::Failed { step, error } => (step, StepEvent::Failed(error), self.elapsed(step)),
            Event::Skipped { step } => (step, StepEvent::Skipped, None),
            Event::UndoStarted { step } => (step, StepEvent::UndoStarted, None),
            Event::Undone { step } => (step, StepEvent::Undone, None),
            Event::UndoFailed { step, error } => (step, StepEvent::UndoFailed(error), None),
        };
        self.emit(&events::step(step, what, elapsed, &now_rfc3339()));
    }
}
