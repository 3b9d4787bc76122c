//! Topology files: BcosBuilder's Pro `config.toml` (and the same schema in YAML).
//!
//! `tree` parses text into located values, `schema` mirrors the file, `decode` checks
//! sections, keys and types, `validate` applies defaults and rules and builds the typed
//! [`Topology`]. Every error is collected with its key path and line:column; the Tars
//! token never appears in one. Pure: the only I/O is [`load`], which reads one file and
//! one environment variable.

mod crypto;
mod decode;
mod merge;
mod model;
mod nodes;
mod packages;
mod peers;
pub mod schema;
mod suggest;
mod summary;
mod tree;
mod validate;

pub use crypto::{CertMode, SECRET_FILES, file_purpose, purpose_dir};
pub use merge::merge;
pub use model::*;
pub use packages::{PackagePin, PackageSource, is_sha256_hex, pin_for, unknown_servers, without_userinfo};
pub use peers::peer_warnings;
pub use summary::summary;
pub use validate::{
    DEFAULT_CHAIN_ID, DEFAULT_FAILOVER_CLUSTER_URL, DEFAULT_LISTEN_IP, DEFAULT_LISTEN_PORT, DEFAULT_PKG_DIR,
    DEFAULT_THREAD_COUNT, is_service_name,
};

use std::path::Path;

use crate::secret::Secret;

/// At most this many errors are printed; the count of the rest follows.
pub const MAX_SHOWN_ERRORS: usize = 100;

/// Quoted values and key paths longer than this many characters are shortened in errors.
pub const MAX_QUOTED_CHARS: usize = 80;

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
        for e in self.errors.iter().take(MAX_SHOWN_ERRORS) {
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
        if let Some(more) = self.errors.len().checked_sub(MAX_SHOWN_ERRORS).filter(|&n| n > 0) {
            out.push_str(&format!("\n  … and {more} more error(s); fix these first"));
        }
        out
    }

    fn single(file: &str, message: String, hint: Option<&str>) -> Self {
        ConfigErrors {
            file: file.to_string(),
            errors: vec![ConfigError {
                path: String::new(),
                location: None,
                message,
                hint: hint.map(str::to_string),
            }],
        }
    }
}

/// The syntax of a topology file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    /// YAML for `.yaml`/`.yml` (any case), TOML otherwise.
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(ext) if ext == "yaml" || ext == "yml" => Format::Yaml,
            _ => Format::Toml,
        }
    }
}

/// Reads and validates a topology file (TOML, or YAML for `.yaml`/`.yml`).
/// `TARSFORM_TARS_TOKEN`, when set and not blank, wins over the file's `tars_token`.
pub fn load(path: &Path) -> Result<Topology, ConfigErrors> {
    load_full(path).map(|(topology, _)| topology)
}

/// The `[backend]` section of a valid topology file (where its state lives).
pub fn load_backend(path: &Path) -> Result<BackendSettings, ConfigErrors> {
    load_full(path).map(|(_, backend)| backend)
}

/// [`load`] and [`load_backend`] at once: the file is read and parsed once.
pub fn load_full(path: &Path) -> Result<(Topology, BackendSettings), ConfigErrors> {
    let file = path.display().to_string();
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map_err(|_| ConfigErrors::single(&file, "the file is not UTF-8 text".into(), None))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigErrors::single(
                &file,
                "topology file not found".into(),
                Some("pass the topology with `-c FILE`; see conf/ for examples"),
            ));
        }
        Err(e) => {
            return Err(ConfigErrors::single(
                &file,
                format!("cannot read the file: {e}"),
                None,
            ));
        }
    };
    let env_token = std::env::var(TOKEN_ENV).ok();
    let (mut topology, backend) = parse_full(&text, Format::from_path(path), &file, env_token.as_deref())?;
    packages::resolve_dirs(&mut topology.tars.packages, path);
    Ok((topology, backend))
}

/// Parses and validates topology text. Pure; never panics on any input.
pub fn parse_str(
    text: &str,
    format: Format,
    source_name: &str,
    env_token: Option<&str>,
) -> Result<Topology, ConfigErrors> {
    parse_full(text, format, source_name, env_token).map(|(topology, _)| topology)
}

/// As [`parse_str`], with the `[backend]` section.
pub fn parse_full(
    text: &str,
    format: Format,
    source_name: &str,
    env_token: Option<&str>,
) -> Result<(Topology, BackendSettings), ConfigErrors> {
    if text.trim().is_empty() {
        return Err(ConfigErrors::single(
            source_name,
            "the file is empty".into(),
            Some("start from conf/expand-agencyA.toml"),
        ));
    }
    let parsed = match format {
        Format::Toml => tree::from_toml(text),
        Format::Yaml => tree::from_yaml(text),
    };
    let mut errors = Vec::new();
    let mut secrets: Vec<Secret> = token_candidates(text);
    secrets.extend(env_token.map(Secret::new));
    let topology = match parsed {
        Err(syntax) => {
            errors = syntax;
            None
        }
        Ok(root) => {
            let raw = decode::decode(&root, &mut errors);
            secrets.extend(
                raw.tars
                    .as_ref()
                    .and_then(|t| t.tars_token.as_ref())
                    .map(|t| t.value.clone()),
            );
            let mut topology = validate::validate(&raw, env_token, &mut errors);
            topology.iter_mut().for_each(peers::resolve_auto);
            let backend = validate::backend_settings(&raw, &mut Vec::new());
            name_agencies(&mut errors, &raw);
            topology.map(|t| (t, backend))
        }
    };
    match topology {
        Some(t) if errors.is_empty() => Ok(t),
        _ => {
            if errors.is_empty() {
                errors.push(ConfigError {
                    path: String::new(),
                    location: None,
                    message: "the topology is incomplete".into(),
                    hint: None,
                });
            }
            // Unlocated (file-level) errors first, then in file order.
            errors.sort_by_key(|e| e.location.unwrap_or((0, 0)));
            errors.dedup();
            Err(ConfigErrors {
                file: source_name.to_string(),
                errors: errors.into_iter().map(|e| redact(e, &secrets)).collect(),
            })
        }
    }
}

/// Appends the agency's name to errors inside `agency[i]` when the name is known and valid.
fn name_agencies(errors: &mut [ConfigError], raw: &schema::RawTopology) {
    for e in errors {
        let Some(rest) = e.path.strip_prefix("agency[") else {
            continue;
        };
        let Some((index, field)) = rest.split_once(']') else {
            continue;
        };
        let name = index
            .parse::<usize>()
            .ok()
            .and_then(|i| raw.agency.get(i))
            .and_then(|a| a.name.as_ref())
            .filter(|n| is_service_name(&n.value));
        if let Some(name) = name
            && field != ".name"
        {
            e.message = format!("{} (agency `{}`)", e.message, name.value);
        }
    }
}

/// Whatever follows `tars_token` on a line, even when the file does not parse.
fn token_candidates(text: &str) -> Vec<Secret> {
    text.lines()
        .filter_map(|line| {
            let rest = &line[line.find("tars_token")? + "tars_token".len()..];
            let rest = rest.trim_start().strip_prefix(['=', ':'])?.trim();
            let value = match rest.chars().next() {
                Some(q @ ('"' | '\'')) => rest[1..].split(q).next().unwrap_or(""),
                _ => rest
                    .split(|c: char| c.is_whitespace() || c == '#')
                    .next()
                    .unwrap_or(""),
            };
            (!value.trim().is_empty()).then(|| Secret::new(value))
        })
        .collect()
}

/// Removes secrets, then shortens long echoed values so one error stays one readable line.
fn redact(mut e: ConfigError, secrets: &[Secret]) -> ConfigError {
    for s in secrets {
        e.path = s.redact_in(&e.path);
        e.message = s.redact_in(&e.message);
        e.hint = e.hint.map(|h| s.redact_in(&h));
    }
    e.path = elide(&e.path, MAX_QUOTED_CHARS);
    e.message = shorten_quoted(&e.message);
    e.hint = e.hint.map(|h| shorten_quoted(&h));
    e
}

/// Shortens every `` `quoted` `` span longer than [`MAX_QUOTED_CHARS`].
fn shorten_quoted(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                elide(part, MAX_QUOTED_CHARS)
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// `text` itself, or its start and end around `…` when it has more than `max` characters.
fn elide(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max * 3 / 4).collect();
    let tail: String = text.chars().skip(count - max / 4).collect();
    format!("{head}…({count} characters)…{tail}")
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod backend_tests;
