//! Located tree → schema structs: sections, key names and value types.
//!
//! Collects every structural problem at once: unknown keys (with a "did you mean"),
//! wrong types, missing sections and required keys. A key with a bad value is left
//! `None` after its error is recorded, so later passes do not report it again. Pure.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;

use super::ConfigError;
use super::schema::{
    At, Located, Opt, RawAgency, RawBackend, RawChain, RawNode, RawPackage, RawService, RawTars, RawTopology,
};
use super::suggest::closest;
use super::tree::{Entry, Loc, Node, Value};
use crate::secret::Secret;

/// Decodes the whole document. Errors are appended to `errors`.
pub fn decode(root: &Node, errors: &mut Vec<ConfigError>) -> RawTopology {
    let Some(mut top) = Section::open("", root, errors) else {
        return RawTopology::default();
    };
    let tars = top.take("tars");
    let chain = top.take("chain");
    let agency = top.take("agency");
    let group = top.take("group").map(|_| IgnoredAny);
    let backend = top.take("backend");
    top.finish(errors);
    let backend =
        backend.and_then(|e| Section::open("backend", &e.node, errors).map(|s| decode_backend(s, e, errors)));

    let tars = match tars {
        Some(e) => Section::open("tars", &e.node, errors).map(|s| decode_tars(s, e, errors)),
        None => {
            errors.push(ConfigError {
                path: "tars".into(),
                location: None,
                message: "missing section `[tars]`".into(),
                hint: Some("add `[tars]` with `tars_url = \"http://<TarsWeb host>:3000\"`".into()),
            });
            None
        }
    };
    let chain = chain.and_then(|e| Section::open("chain", &e.node, errors).map(|s| decode_chain(s, errors)));
    let agency = agency.map(|e| decode_agencies(e, errors)).unwrap_or_default();
    RawTopology {
        tars,
        chain,
        agency,
        group,
        backend,
    }
}

fn decode_backend(mut s: Section<'_>, header: &Entry, errors: &mut Vec<ConfigError>) -> RawBackend {
    let backend = RawBackend {
        kind: s.string("type", errors),
        url: s.string("url", errors),
        password_file: s.string("password_file", errors),
        store_keys: s.boolean("store_keys", errors),
        identity_file: s.string("identity_file", errors),
        loc: At(header.key_loc.or(header.node.loc)),
    };
    s.finish(errors);
    backend
}

fn decode_tars(mut s: Section<'_>, header: &Entry, errors: &mut Vec<ConfigError>) -> RawTars {
    let packages_path = s.child("packages");
    let packages = s
        .take("packages")
        .map(|e| decode_packages(&packages_path, e, errors));
    let tars = RawTars {
        packages,
        tars_url: s.string("tars_url", errors),
        tars_token: s.string("tars_token", errors).map(|t| Located {
            value: Secret::new(t.value),
            loc: t.loc,
        }),
        tars_pkg_dir: s.string("tars_pkg_dir", errors),
        loc: At(header.key_loc.or(header.node.loc)),
    };
    if tars.tars_url.is_none() && !s.had_bad("tars_url") {
        errors.push(missing(
            "tars.tars_url",
            tars.loc.0,
            "`tars_url`",
            "the TarsWeb address, e.g. `tars_url = \"http://127.0.0.1:3000\"`",
        ));
    }
    s.finish(errors);
    tars
}

fn decode_chain(mut s: Section<'_>, errors: &mut Vec<ConfigError>) -> RawChain {
    let chain = RawChain {
        chain_id: s.string("chain_id", errors),
        rpc_sm_ssl: s.boolean("rpc_sm_ssl", errors),
        gateway_sm_ssl: s.boolean("gateway_sm_ssl", errors),
        rpc_ca_cert_path: s.string("rpc_ca_cert_path", errors),
        gateway_ca_cert_path: s.string("gateway_ca_cert_path", errors),
    };
    s.finish(errors);
    chain
}

fn decode_agencies(entry: &Entry, errors: &mut Vec<ConfigError>) -> Vec<RawAgency> {
    let Value::Array(items) = &entry.node.value else {
        errors.push(ConfigError {
            path: "agency".into(),
            location: entry.key_loc,
            message: format!(
                "expected an array of tables, found {}",
                entry.node.value.type_name()
            ),
            hint: Some("declare each agency with `[[agency]]` (two brackets)".into()),
        });
        return Vec::new();
    };
    let mut agencies = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("agency[{i}]");
        if let Some(s) = Section::open(&path, item, errors) {
            agencies.push(decode_agency(s, item.loc, errors));
        }
    }
    agencies
}

fn decode_agency(mut s: Section<'_>, loc: Option<Loc>, errors: &mut Vec<ConfigError>) -> RawAgency {
    let mut agency = RawAgency {
        name: s.string("name", errors),
        failover_cluster_url: s.string("failover_cluster_url", errors),
        enable_storage_security: s.boolean("enable_storage_security", errors),
        key_center_url: s.string("key_center_url", errors),
        cipher_data_key: s.string("cipher_data_key", errors),
        rpc: None,
        gateway: None,
        group: s.take("group").map(|_| IgnoredAny),
        loc: At(loc),
    };
    if agency.name.is_none() && !s.had_bad("name") {
        errors.push(missing(
            &s.child("name"),
            loc,
            "`name`",
            "every `[[agency]]` needs `name = \"agencyA\"`",
        ));
    }
    agency.rpc = s
        .take("rpc")
        .and_then(|e| decode_service(&s.child("rpc"), e, false, errors));
    agency.gateway = s
        .take("gateway")
        .and_then(|e| decode_service(&s.child("gateway"), e, true, errors));
    s.finish(errors);
    agency
}

fn decode_service(
    path: &str,
    entry: &Entry,
    gateway: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<RawService> {
    let mut s = Section::open(path, &entry.node, errors)?;
    let loc = entry.key_loc.or(entry.node.loc);
    let node_path = s.child("node");
    let node = s.take("node").map(|e| decode_nodes(&node_path, e, errors));
    let service = RawService {
        deploy_ip: s.string_list("deploy_ip", errors),
        listen_ip: s.string("listen_ip", errors),
        listen_port: s.integer("listen_port", errors),
        thread_count: s.integer("thread_count", errors),
        peers: if gateway {
            s.string_or_list("peers", errors)
        } else {
            None
        },
        tars_listen_ip: s.string("tars_listen_ip", errors),
        tars_listen_port: s.integer("tars_listen_port", errors),
        prevent_destroy: s.boolean("prevent_destroy", errors),
        state: s.string("state", errors),
        node,
        loc: At(loc),
    };
    if service.deploy_ip.is_none() && !s.had_bad("deploy_ip") {
        errors.push(missing(
            &s.child("deploy_ip"),
            loc,
            "`deploy_ip`",
            "list the node IPs, e.g. `deploy_ip = [\"172.25.0.5\"]`",
        ));
    }
    if !gateway && s.take("peers").is_some() {
        errors.push(ConfigError {
            path: s.child("peers"),
            location: s.key_loc("peers"),
            message: "`peers` applies to the gateway only".into(),
            hint: Some("move `peers` to `[agency.gateway]`".into()),
        });
    }
    s.finish(errors);
    Some(service)
}

/// `node."<ip>"` tables: each key is an IP (checked in `validate`), each value a table.
fn decode_nodes(path: &str, entry: &Entry, errors: &mut Vec<ConfigError>) -> BTreeMap<String, RawNode> {
    let mut out = BTreeMap::new();
    let Some(section) = Section::open(path, &entry.node, errors) else {
        return out;
    };
    for item in section.all {
        let item_path = format!("{path}.\"{}\"", item.key);
        let Some(mut s) = Section::open(&item_path, &item.node, errors) else {
            continue;
        };
        let node = RawNode {
            listen_ip: s.string("listen_ip", errors),
            listen_port: s.integer("listen_port", errors),
            thread_count: s.integer("thread_count", errors),
            state: s.string("state", errors),
            loc: At(item.key_loc.or(item.node.loc)),
        };
        s.finish(errors);
        out.insert(item.key.clone(), node);
    }
    out
}

/// `[tars.packages.<key>]` tables (keys checked in `validate`).
fn decode_packages(path: &str, entry: &Entry, errors: &mut Vec<ConfigError>) -> BTreeMap<String, RawPackage> {
    let mut out = BTreeMap::new();
    let Some(section) = Section::open(path, &entry.node, errors) else {
        return out;
    };
    for item in section.all {
        let item_path = format!("{path}.{}", item.key);
        let Some(mut s) = Section::open(&item_path, &item.node, errors) else {
            continue;
        };
        let package = RawPackage {
            version: s.string("version", errors),
            sha256: s.string("sha256", errors),
            url: s.string("url", errors),
            dir: s.string("dir", errors),
            loc: At(item.key_loc.or(item.node.loc)),
        };
        s.finish(errors);
        out.insert(item.key.clone(), package);
    }
    out
}

fn missing(path: &str, location: Option<Loc>, what: &str, hint: &str) -> ConfigError {
    ConfigError {
        path: path.into(),
        location,
        message: format!("missing required key {what}"),
        hint: Some(hint.into()),
    }
}

/// One table being decoded: keys are taken one by one; what is left is unknown.
struct Section<'a> {
    path: String,
    entries: Vec<&'a Entry>,
    known: Vec<&'static str>,
    all: &'a [Entry],
    bad: Vec<&'static str>,
}

impl<'a> Section<'a> {
    fn open(path: &str, node: &'a Node, errors: &mut Vec<ConfigError>) -> Option<Self> {
        match &node.value {
            Value::Table(entries) => Some(Section {
                path: path.to_string(),
                entries: entries.iter().collect(),
                known: Vec::new(),
                all: entries,
                bad: Vec::new(),
            }),
            other => {
                errors.push(ConfigError {
                    path: path.to_string(),
                    location: node.loc,
                    message: if path.is_empty() {
                        format!(
                            "the document must be a table of sections, found {}",
                            other.type_name()
                        )
                    } else {
                        format!("expected a table, found {}", other.type_name())
                    },
                    hint: None,
                });
                None
            }
        }
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn key_loc(&self, key: &str) -> Option<Loc> {
        self.all.iter().find(|e| e.key == key).and_then(|e| e.key_loc)
    }

    fn take(&mut self, key: &'static str) -> Option<&'a Entry> {
        self.known.push(key);
        let i = self.entries.iter().position(|e| e.key == key)?;
        Some(self.entries.remove(i))
    }

    fn had_bad(&self, key: &str) -> bool {
        self.bad.contains(&key)
    }

    fn typed<T>(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
        expected: &str,
        convert: impl Fn(&Value) -> Option<T>,
    ) -> Opt<T> {
        let entry = self.take(key)?;
        match convert(&entry.node.value) {
            Some(value) => Some(Located {
                value,
                loc: entry.node.loc.or(entry.key_loc),
            }),
            None => {
                self.bad.push(key);
                errors.push(type_error(&self.child(key), entry, expected));
                None
            }
        }
    }

    fn string(&mut self, key: &'static str, errors: &mut Vec<ConfigError>) -> Opt<String> {
        self.typed(key, errors, "a string", |v| match v {
            Value::Str(s) => Some(s.clone()),
            _ => None,
        })
    }

    fn boolean(&mut self, key: &'static str, errors: &mut Vec<ConfigError>) -> Opt<bool> {
        self.typed(
            key,
            errors,
            "a boolean (true or false, without quotes)",
            |v| match v {
                Value::Bool(b) => Some(*b),
                _ => None,
            },
        )
    }

    fn integer(&mut self, key: &'static str, errors: &mut Vec<ConfigError>) -> Opt<i64> {
        self.typed(key, errors, "an integer", |v| match v {
            Value::Int(i) => Some(*i),
            _ => None,
        })
    }

    /// A list of strings; a non-string element is reported at its own index and skipped.
    fn string_list(&mut self, key: &'static str, errors: &mut Vec<ConfigError>) -> Opt<Vec<Located<String>>> {
        let path = self.child(key);
        let list = self.typed(key, errors, "a list of strings", |v| match v {
            Value::Array(items) => Some(items.clone()),
            _ => None,
        })?;
        let mut out = Vec::new();
        for (i, item) in list.value.iter().enumerate() {
            match &item.value {
                Value::Str(s) => out.push(Located {
                    value: s.clone(),
                    loc: item.loc,
                }),
                other => errors.push(ConfigError {
                    path: format!("{path}[{i}]"),
                    location: item.loc,
                    message: format!("expected a string, found {}", other.type_name()),
                    hint: None,
                }),
            }
        }
        Some(Located {
            value: out,
            loc: list.loc,
        })
    }

    /// A list of strings, or one string standing for a list of one (`peers = "auto"`).
    fn string_or_list(
        &mut self,
        key: &'static str,
        errors: &mut Vec<ConfigError>,
    ) -> Opt<Vec<Located<String>>> {
        match self.entries.iter().find(|e| e.key == key).map(|e| &e.node) {
            Some(node) if matches!(node.value, Value::Str(_)) => {
                self.string(key, errors).map(|one| Located {
                    loc: one.loc,
                    value: vec![one],
                })
            }
            _ => self.string_list(key, errors),
        }
    }

    /// Reports every key nobody took.
    fn finish(self, errors: &mut Vec<ConfigError>) {
        for entry in &self.entries {
            let hint = match closest(&entry.key, &self.known) {
                Some(k) => format!("did you mean `{k}`?"),
                None => format!("known keys here: {}", self.known.join(", ")),
            };
            errors.push(ConfigError {
                path: self.child(&entry.key),
                location: entry.key_loc.or(entry.node.loc),
                message: format!("unknown key `{}`", entry.key),
                hint: Some(hint),
            });
        }
    }
}

fn type_error(path: &str, entry: &Entry, expected: &str) -> ConfigError {
    let found = entry.node.value.type_name();
    let hint = match (&entry.node.value, expected.starts_with("a list")) {
        (Value::Str(s), true) => Some(format!("write a list even for one value: `[\"{s}\"]`")),
        (_, true) => Some("write a list such as `[\"172.25.0.5\"]`".to_string()),
        (Value::Str(s), false)
            if expected.starts_with("a boolean") && matches!(s.as_str(), "true" | "false") =>
        {
            Some(format!("remove the quotes: `{s}`"))
        }
        (Value::Str(s), false) if expected == "an integer" && s.trim().parse::<i64>().is_ok() => {
            Some(format!("remove the quotes: `{}`", s.trim()))
        }
        (Value::Float(_), false) if expected == "an integer" => {
            Some("write a whole number without a decimal point".to_string())
        }
        _ => None,
    };
    ConfigError {
        path: path.into(),
        location: entry.node.loc.or(entry.key_loc),
        message: format!("expected {expected}, found {found}"),
        hint,
    }
}
