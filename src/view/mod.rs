//! Output: plans as human text, Markdown and JSON; the resource graph as DOT and Mermaid;
//! the state as a listing.
//!
//! Pure: every function returns a `String`; the CLI decides where it goes. Sensitive
//! attributes print as `(sensitive)`, values known only at apply as `(known after apply)`.

mod apply_markdown;
mod brief;
mod diff;
pub mod events;
#[cfg(test)]
mod fixtures;
pub mod graph;
mod grouping;
mod human;
mod json;
mod markdown;
mod outline;
mod pem;
mod plan_graph;
pub mod state;
mod style;
mod values;

pub use apply_markdown::markdown_apply;
pub use brief::saved_plan as saved_plan_brief;
pub use human::{human, human_full, write_human};
pub use json::{JSON_FORMAT_VERSION, json, json_with_state};
pub use markdown::markdown;
pub use outline::outline;
pub use plan_graph::plan_dot;

/// Shown in place of a secret.
pub const SENSITIVE: &str = crate::secret::REDACTED;
/// Shown in place of a value known only once applied.
pub const KNOWN_AFTER_APPLY: &str = "(known after apply)";
