//! What `--switch-crypto` leaves behind: each switching node's rows of the other
//! certificate set are deleted in Tars (apply's `delete-config`, undone by a rollback).
//! Rows in state are deleted by `plan_deletions`; this adds the rows only Tars holds.

use super::*;
use crate::config::CertMode;

impl Planner<'_> {
    /// Deletes of the other set's rows that Tars serves to a switching node and the
    /// state does not hold.
    pub(super) fn plan_switch_leftovers(&mut self) {
        for svc in self.topology.services() {
            let kind = svc.kind();
            if !self.switching.contains(&kind) {
                continue;
            }
            let server = svc.server_name();
            for ip in &svc.service.deploy_ip {
                let ip = ip.to_string();
                let Some(node) = self.observed().and_then(|o| o.node(&server, &ip)) else {
                    continue;
                };
                for file in old_set_files(self.topology.chain.cert_mode(kind), kind) {
                    let address = Address::config(&server, &ip, file);
                    let Some(row) = node.configs.get(file) else {
                        continue;
                    };
                    if self.changes.contains_key(&address) || self.state_attrs(&address).is_some() {
                        continue;
                    }
                    let mut before = Attrs::new();
                    before.insert("config_id".into(), json!(row.id));
                    before.insert("content_sha256".into(), json!(sha256_hex(row.content.as_bytes())));
                    before.insert("file".into(), json!(file));
                    before.insert("node".into(), json!(ip));
                    before.insert("server".into(), json!(server));
                    let reason = self.switch_deletion_reason(&address).unwrap_or_default();
                    self.changes.insert(
                        address.clone(),
                        ResourceChange {
                            address,
                            action: Action::Delete,
                            reason,
                            before: Some(before),
                            after: None,
                            after_unknown: VecSet::new(),
                            sensitive: if SENSITIVE_FILES.contains(&file) {
                                VecSet::from(["content".to_string()])
                            } else {
                                VecSet::new()
                            },
                            depends_on: VecSet::new(),
                        },
                    );
                }
            }
        }
    }

    /// Why a cert or config of a node that stays is deleted: it belongs to the other
    /// certificate set. `None` for anything else.
    pub(super) fn switch_deletion_reason(&self, address: &Address) -> Option<String> {
        let node = address.owning_node()?;
        let (server, file) = (node.server_name()?, address.leaf_name()?);
        let kind = kind_of_server(server)?;
        if !self.is_desired(&node) {
            return None;
        }
        let mode = self.topology.chain.cert_mode(kind);
        let other = CertMode::of(!mode.is_sm());
        match address.kind() {
            ResourceKind::Config if old_set_files(mode, kind).any(|f| f == file) => Some(format!(
                "{file} belongs to the {} set and the node now uses {} (--switch-crypto): removed from Tars",
                other.key_type(),
                mode.key_type()
            )),
            ResourceKind::Cert if !mode.cert_purposes(kind).contains(&file) => Some(format!(
                "the {} certificate `{file}` is replaced by the {} set (--switch-crypto); its local files stay",
                other.key_type(),
                mode.key_type()
            )),
            _ => None,
        }
    }
}

/// The files of the other certificate set that the set of `mode` does not push.
fn old_set_files(mode: CertMode, kind: ServiceKind) -> impl Iterator<Item = &'static str> {
    let other = CertMode::of(!mode.is_sm());
    other
        .config_files(kind)
        .iter()
        .copied()
        .filter(move |f| !mode.config_files(kind).contains(f))
}
