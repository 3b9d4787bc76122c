//! Rendering of the files a node receives: `config.ini`, `nodes.json`, and the Tars
//! package `<server>.tgz`.
//!
//! Pure: input is the typed [`Topology`](crate::config::Topology) (or archive bytes), output
//! is text or bytes. No filesystem, no network; `crate::workspace` writes the results.
//! The output matches what BcosBuilder generates for the same input (same sections, keys
//! and values), and is byte-deterministic.

mod config_ini;
mod ini;
mod nodes_json;
pub mod package;

pub use config_ini::{config_ini, gateway_uuid};
pub use nodes_json::nodes_json;
