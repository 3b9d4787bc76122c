//! `TARSFORM_LOG`: a `tracing` filter (`debug`, `tarsform::tars=debug`, …) for logs on
//! stderr, e.g. one line per Tars call with its status and time. Unset: no log.

use std::io::IsTerminal;

/// The variable holding the filter.
pub const LOG_ENV: &str = "TARSFORM_LOG";

/// Installs the stderr logger when `TARSFORM_LOG` is set; a bad filter is a warning.
pub fn init() {
    let Ok(text) = std::env::var(LOG_ENV) else {
        return;
    };
    if text.trim().is_empty() {
        return;
    }
    // A bare level is tarsform's own log; the HTTP stack's needs a target (`hyper_util=debug`).
    let bare_level =
        ["trace", "debug", "info", "warn", "error"].contains(&text.trim().to_ascii_lowercase().as_str());
    let directives = if bare_level {
        format!("tarsform={}", text.trim())
    } else {
        text.clone()
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(&directives) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!(
                "warning: {LOG_ENV}=`{text}` is not a log filter ({e}); no log\nhint: write e.g. {LOG_ENV}=debug"
            );
            return;
        }
    };
    let colour = std::io::stderr().is_terminal() && super::inputs::color_allowed();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false)
        .try_init();
}
