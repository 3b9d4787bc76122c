//! Topology files: BcosBuilder's Pro `config.toml` (and the same schema in YAML).
//!
//! `schema` mirrors the file (serde), `validate` turns it into the typed
//! [`Topology`] and collects every error with its key path and line:column.
//! Pure: the only I/O is [`load`], which reads one file and one environment variable.

mod model;

pub use model::*;

use std::path::Path;

/// The environment variable that supplies (and overrides) `[tars] tars_token`.
pub const TOKEN_ENV: &str = "TARSFORM_TARS_TOKEN";

/// Every problem found in one topology file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigErrors {
    pub file: String,
    pub errors: Vec<ConfigError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path such as `agency[0].rpc.deploy_ip[1]`; empty for file-level errors.
    pub path: String,
    /// 1-based line and column when the format gives them.
    pub location: Option<(usize, usize)>,
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigErrors {
    fn render(&self) -> String {
        let mut out = format!("{} error(s) in {}:", self.errors.len(), self.file);
        for e in &self.errors {
            out.push_str("\n  - ");
            if let Some((line, col)) = e.location {
                out.push_str(&format!("{}:{line}:{col}: ", self.file));
            }
            if !e.path.is_empty() {
                out.push_str(&format!("`{}`: ", e.path));
            }
            out.push_str(&e.message);
            if let Some(h) = &e.hint {
                out.push_str(&format!("\n    hint: {h}"));
            }
        }
        out
    }
}

/// Reads and validates a topology file (TOML, or YAML for `.yaml`/`.yml`).
pub fn load(path: &Path) -> Result<Topology, ConfigErrors> {
    let file = path.display().to_string();
    Err(ConfigErrors {
        file,
        errors: vec![ConfigError {
            path: String::new(),
            location: None,
            message: "topology loading is being built".into(),
            hint: None,
        }],
    })
}
