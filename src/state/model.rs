//! The state model (DESIGN.md §5): what tarsform last wrote about each resource.
//!
//! Pure: no file system, no clock, no randomness. The store (`store.rs`) reads and
//! writes it; the lineage is passed in by the caller. Private key material must never
//! be stored here: [`State::check_no_secrets`] finds attributes that look like keys.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::addr::{Address, ResourceKind};
use crate::compact::{VecMap, VecSet};

/// The state file format this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// The tarsform version recorded in every state written by this build.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Attribute names that would hold a private key; refused wherever they appear.
pub const SECRET_ATTRIBUTE_NAMES: [&str; 2] = ["key_pem", "private_key"];

/// Text that marks PEM private key material in any string value.
pub const PRIVATE_KEY_MARKER: &str = "PRIVATE KEY";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub format_version: u32,
    /// A UUID set when the state is first created and never changed.
    pub lineage: String,
    /// Incremented by the store on every write.
    pub serial: u64,
    pub tool_version: String,
    pub chain_id: String,
    #[serde(default, deserialize_with = "resources_in_one_pass")]
    pub resources: BTreeMap<Address, ResourceState>,
}

/// The resources as stored (sorted by address), built into the map in one pass instead
/// of one search per resource; of a repeated address the last one counts.
fn resources_in_one_pass<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<Address, ResourceState>, D::Error> {
    let resources = VecMap::<Address, ResourceState>::deserialize(d)?;
    Ok(resources.into_iter().collect())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceState {
    pub kind: ResourceKind,
    /// Tars ids, digests and local paths; never private key material.
    #[serde(default)]
    pub attributes: VecMap<String, serde_json::Value>,
    #[serde(default)]
    pub dependencies: VecSet<Address>,
    pub status: ResourceStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceStatus {
    Ready,
    /// Created but not known to be good (a failed or interrupted step); replaced next apply.
    Tainted,
}

impl ResourceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceStatus::Ready => "ready",
            ResourceStatus::Tainted => "tainted",
        }
    }
}

/// Why a state file is not the one this run may use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("holds the state of chain `{found}`, but the topology is chain `{expected}`")]
    ForeignChain { found: String, expected: String },
    #[error("has lineage {state}, but the journal beside it was written for lineage {journal}")]
    ForeignJournal { state: String, journal: String },
}

/// Where a secret-looking value was found: the resource and the attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFound {
    pub address: Option<Address>,
    /// JSON path inside the attributes or journal detail, e.g. `files[0].key_pem`.
    pub path: String,
}

impl ResourceState {
    pub fn new(kind: ResourceKind) -> Self {
        ResourceState {
            kind,
            attributes: VecMap::new(),
            dependencies: VecSet::new(),
            status: ResourceStatus::Ready,
        }
    }

    pub fn with_attribute(mut self, name: &str, value: impl Into<serde_json::Value>) -> Self {
        self.attributes.insert(name.to_string(), value.into());
        self
    }

    pub fn with_dependency(mut self, address: Address) -> Self {
        self.dependencies.insert(address);
        self
    }
}

impl State {
    /// An empty state for a chain; `lineage` is a fresh UUID chosen by the caller.
    pub fn new(chain_id: impl Into<String>, lineage: impl Into<String>) -> Self {
        State {
            format_version: FORMAT_VERSION,
            lineage: lineage.into(),
            serial: 0,
            tool_version: TOOL_VERSION.to_string(),
            chain_id: chain_id.into(),
            resources: BTreeMap::new(),
        }
    }

    pub fn get(&self, address: &Address) -> Option<&ResourceState> {
        self.resources.get(address)
    }

    pub fn get_mut(&mut self, address: &Address) -> Option<&mut ResourceState> {
        self.resources.get_mut(address)
    }

    /// Adds or replaces a resource; returns the previous one.
    pub fn insert(&mut self, address: Address, resource: ResourceState) -> Option<ResourceState> {
        debug_assert_eq!(address.kind(), resource.kind, "{address}: kind mismatch");
        debug_assert!(
            resource
                .attributes
                .iter()
                .all(|(k, v)| find_secret(k, v).is_none()),
            "{address}: private key material in attributes"
        );
        self.resources.insert(address, resource)
    }

    pub fn remove(&mut self, address: &Address) -> Option<ResourceState> {
        self.resources.remove(address)
    }

    /// Every address, sorted.
    pub fn addresses(&self) -> impl Iterator<Item = &Address> {
        self.resources.keys()
    }

    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// Resources that list `address` among their dependencies.
    pub fn dependents_of(&self, address: &Address) -> Vec<&Address> {
        self.resources
            .iter()
            .filter(|(_, r)| r.dependencies.contains(address))
            .map(|(a, _)| a)
            .collect()
    }

    /// Refuses this state when it belongs to another chain than `chain_id` (when the
    /// topology is known) or another lineage than the journal beside it.
    pub fn check_identity(
        &self,
        chain_id: Option<&str>,
        journal_lineage: Option<&str>,
    ) -> Result<(), IdentityError> {
        if let Some(expected) = chain_id
            && self.chain_id != expected
        {
            return Err(IdentityError::ForeignChain {
                found: self.chain_id.clone(),
                expected: expected.to_string(),
            });
        }
        match journal_lineage {
            Some(journal) if journal != self.lineage => Err(IdentityError::ForeignJournal {
                state: self.lineage.clone(),
                journal: journal.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The first attribute that looks like private key material, if any.
    pub fn check_no_secrets(&self) -> Result<(), SecretFound> {
        for (address, resource) in &self.resources {
            for (name, value) in &resource.attributes {
                if let Some(path) = find_secret(name, value) {
                    return Err(SecretFound {
                        address: Some(address.clone()),
                        path,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Looks for a secret-named key or a PEM private key in `value` (named `name`);
/// returns the JSON path of the first one found.
pub fn find_secret(name: &str, value: &serde_json::Value) -> Option<String> {
    if is_secret_name(name) {
        return Some(name.to_string());
    }
    match value {
        serde_json::Value::String(s) if s.contains(PRIVATE_KEY_MARKER) => Some(name.to_string()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_secret(&format!("{name}[{i}]"), v)),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, v)| {
            let path = if name.is_empty() {
                k.clone()
            } else {
                format!("{name}.{k}")
            };
            find_secret(&path, v)
        }),
        _ => None,
    }
}

/// True for a name (or the last segment of a JSON path) that would hold a private key.
fn is_secret_name(name: &str) -> bool {
    let last = name.rsplit(['.', ']']).next().unwrap_or(name);
    SECRET_ATTRIBUTE_NAMES
        .iter()
        .any(|s| last.eq_ignore_ascii_case(s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Address {
        Address::node("agencyABcosRpcService", "172.25.0.5")
    }

    #[test]
    fn insert_get_remove_and_sorted_addresses() {
        let mut s = State::new("chain0", "lineage-1");
        let server = Address::server("agencyABcosRpcService");
        s.insert(
            node(),
            ResourceState::new(ResourceKind::Node)
                .with_attribute("adapter_port", 20001)
                .with_dependency(server.clone()),
        );
        s.insert(server.clone(), ResourceState::new(ResourceKind::Server));
        let order: Vec<_> = s.addresses().cloned().collect();
        assert_eq!(order, vec![server.clone(), node()]);
        assert_eq!(s.get(&node()).unwrap().attributes["adapter_port"], json!(20001));
        assert_eq!(s.dependents_of(&server), vec![&node()]);
        assert!(s.remove(&node()).is_some());
        assert!(s.get(&node()).is_none());
    }

    #[test]
    fn json_shape_uses_address_strings_and_lowercase_status() {
        let mut s = State::new("chain0", "l");
        let mut r = ResourceState::new(ResourceKind::Node);
        r.status = ResourceStatus::Tainted;
        s.insert(node(), r);
        let v = serde_json::to_value(&s).unwrap();
        let res = &v["resources"][r#"node["agencyABcosRpcService"]["172.25.0.5"]"#];
        assert_eq!(res["status"], json!("tainted"));
        assert_eq!(res["kind"], json!("node"));
        assert_eq!(v["format_version"], json!(FORMAT_VERSION));
        let back: State = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn identity_needs_this_chain_and_the_journal_lineage() {
        let s = State::new("chain0", "lineage-1");
        assert_eq!(s.check_identity(Some("chain0"), Some("lineage-1")), Ok(()));
        assert_eq!(s.check_identity(None, None), Ok(()));
        let err = s.check_identity(Some("chain1"), None).unwrap_err();
        assert!(matches!(err, IdentityError::ForeignChain { .. }));
        assert!(err.to_string().contains("chain `chain0`") && err.to_string().contains("`chain1`"));
        let err = s.check_identity(Some("chain0"), Some("lineage-2")).unwrap_err();
        assert!(matches!(err, IdentityError::ForeignJournal { .. }), "{err}");
    }

    #[test]
    fn secret_named_or_pem_attributes_are_found() {
        let mut s = State::new("chain0", "l");
        s.insert(
            node(),
            ResourceState::new(ResourceKind::Node).with_attribute("sha256", "ab12"),
        );
        assert!(s.check_no_secrets().is_ok());

        let mut bad = s.clone();
        bad.get_mut(&node())
            .unwrap()
            .attributes
            .insert("Private_Key".into(), json!("x"));
        assert_eq!(bad.check_no_secrets().unwrap_err().path, "Private_Key");

        let mut nested = s.clone();
        nested.get_mut(&node()).unwrap().attributes.insert(
            "files".into(),
            json!([{"name": "ssl.key", "content": "-----BEGIN PRIVATE KEY-----\nMII"}]),
        );
        let found = nested.check_no_secrets().unwrap_err();
        assert_eq!(found.path, "files[0].content");
        assert_eq!(found.address, Some(node()));

        assert_eq!(
            find_secret("", &json!({"old": {"key_pem": "x"}})).as_deref(),
            Some("old.key_pem")
        );
    }
}
