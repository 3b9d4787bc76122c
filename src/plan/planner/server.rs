//! `server[...]`: the Tars server of a service and its package.

use super::*;

impl Planner<'_> {
    pub(super) fn plan_server(&mut self, svc: ServiceRef<'_>, server: &str) -> Action {
        let address = Address::server(server);
        let kind = svc.kind();
        let (before, tainted) = self.recorded(&address);
        let package = self.input.local.packages.get(server);
        let pinned = match package {
            Some(LocalPackage::Pinned {
                version,
                archive_sha256,
                from,
                cache,
                ..
            }) => Some((
                version.clone(),
                archive_sha256.clone(),
                from.clone(),
                cache.clone(),
            )),
            _ => None,
        };
        let source = match &pinned {
            Some((_, _, _, cache)) => cache.clone(),
            None => self.paths.package_source(kind),
        };
        let mut after = Desired::default();
        after.set("application", self.topology.application());
        after.set("server", server);
        after.set("obj_name", kind.obj_name());
        after.set("server_type", crate::config::SERVER_TYPE);
        after.set("template_name", crate::config::TEMPLATE_NAME);
        after.set("package_path", self.paths.package_path(server));
        after.set("package_source", source.clone());
        after.unknown("patch_id");
        let digest = match package {
            Some(LocalPackage::Built { sha256, size, .. }) => {
                after.set("package_size", *size);
                Some(sha256.clone())
            }
            Some(LocalPackage::Pinned {
                version,
                archive_sha256,
                from,
                ..
            }) => {
                after.set("package_version", version.clone());
                after.set("package_from", from.clone());
                Some(pinned_identity(archive_sha256))
            }
            _ => None,
        };
        let old = before
            .and_then(|b| b.get("package_sha256"))
            .and_then(Value::as_str);
        let in_tars = self.observed().is_some_and(|o| o.servers.contains_key(server));
        let running = self.running_patch(server);
        let (action, reason) = match (before, digest.as_deref()) {
            (None, _) if in_tars && running.is_some() => {
                let patch = running.unwrap_or_default();
                after.set("patch_id", patch);
                after.unknown.remove("patch_id");
                after.set("adopted_as_is", true);
                // What Tars runs is the package; only a new archive later is a change.
                let recorded = digest.clone().unwrap_or_else(|| format!("tars-patch:{patch}"));
                after.set("package_sha256", recorded);
                let reason = format!(
                    "exists in Tars running patch {patch}: adopt it as it runs (no upload, no restart)"
                );
                return self.push(address, tainted, Action::Import, reason, before, after);
            }
            (None, _) if in_tars => (
                Action::Import,
                "exists in Tars with no patched node: adopt it and upload the package".to_string(),
            ),
            (None, _) => (
                Action::Create,
                format!("new Tars server; upload {server}.tgz{}", pinned_note(&pinned)),
            ),
            (Some(_), Some(new)) if old != Some(new) => (
                Action::Update,
                format!(
                    "package changed: upload {server}.tgz{} and patch every node",
                    pinned_note(&pinned)
                ),
            ),
            (Some(_), _) => (Action::NoOp, String::new()),
        };
        match (&digest, action) {
            (Some(d), _) => after.set("package_sha256", d.clone()),
            (None, Action::NoOp) => after.set("package_sha256", old.unwrap_or_default()),
            (None, _) => {
                let reason = match package {
                    Some(LocalPackage::Missing { reason, .. }) => reason.clone(),
                    _ => format!("`{source}` was not read"),
                };
                self.blockers.push((
                    address.clone(),
                    PlanError::PackageMissing {
                        server: server.to_string(),
                        source_path: source,
                        reason,
                    },
                ));
            }
        }
        self.push(address, tainted, action, reason, before, after)
    }

    /// `server` as planned, for its nodes; `action` is its change.
    pub(super) fn planned_server(&self, server: &str, action: Action) -> PlannedServer {
        let address = Address::server(server);
        let change = self.changes.get(&address);
        let package = change
            .and_then(|c| c.attr_str("package_sha256"))
            .or_else(|| {
                self.state_attrs(&address)
                    .and_then(|a| a.get("package_sha256"))
                    .and_then(Value::as_str)
            })
            .unwrap_or_default()
            .to_string();
        PlannedServer {
            action,
            package,
            adopted_as_is: change.is_some_and(|c| c.attr("adopted_as_is").is_some()),
        }
    }

    /// The newest patch the nodes of `server` run in Tars, when every node runs one
    /// (BcosBuilder uploads the package again for each expansion, so nodes of one server
    /// may run different patch ids of the same package; each node keeps its own).
    fn running_patch(&self, server: &str) -> Option<u64> {
        let nodes = &self.observed()?.servers.get(server)?.nodes;
        let patches: Option<Vec<u64>> = nodes
            .values()
            .map(|n| n.patch_version.trim().parse().ok())
            .collect();
        patches?.into_iter().max()
    }
}

/// A server as its nodes are planned.
pub(super) struct PlannedServer {
    pub action: Action,
    /// The package its nodes run once applied: the change's, else the state's.
    pub package: String,
    /// Imported as it runs in Tars: its nodes keep their patch.
    pub adopted_as_is: bool,
}

/// The `package_sha256` of a server whose release archive is pinned by digest: the
/// archive's digest, marked as such (the built `<server>.tgz` follows from it and the name).
pub fn pinned_identity(archive_sha256: &str) -> String {
    format!("{PINNED_PREFIX}{archive_sha256}")
}

/// The prefix of [`pinned_identity`].
pub const PINNED_PREFIX: &str = "release-sha256:";

/// ` (release v3.4.0, sha256 9f86d081884c…)` for a pinned package.
fn pinned_note(pinned: &Option<(String, String, String, String)>) -> String {
    match pinned {
        Some((version, sha, _, _)) => format!(" (release {version}, sha256 {}…)", &sha[..12]),
        None => String::new(),
    }
}
