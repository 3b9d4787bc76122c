//! `node[...]`: registration (deploy or expand), import, restarts, stops and starts
//! (`state = "started" | "stopped"`) of one node, and the CA check for new nodes.

use super::adapter::{self, AdapterCheck};
use super::*;
use crate::config::RunState;

/// Why a node restarts in a plan made by `tarsform restart`.
pub const RESTART_REQUESTED: &str = "requested (`tarsform restart`)";

/// The fix of a node whose patch changed outside tarsform.
const REPATCH_FIX: &str = "re-patch to the recorded package";

/// `state = "stopped"` in a reason.
const STOPPED: &str = "state = \"stopped\"";

impl Planner<'_> {
    pub(super) fn plan_node(
        &mut self,
        node: &NodeCtx<'_>,
        server: &PlannedServer,
        pushed: &[&str],
        register_source: &mut Option<String>,
    ) {
        let address = node.address.clone();
        let (before, tainted) = (node.before, node.tainted);
        let server_package = server.package.as_str();
        let mut after = Desired::default();
        after.set("application", self.topology.application());
        after.set("server", node.server);
        after.set("ip", node.ip);
        after.set("obj_name", node.kind.obj_name());
        after.set("package_sha256", server_package);
        let want_stopped = node.run == RunState::Stopped;
        let recorded_stopped = before.and_then(|b| b.get("run_state")).and_then(Value::as_str)
            == Some(RunState::Stopped.as_str());
        let running = node.observed.map(is_running);
        if want_stopped {
            after.set("run_state", RunState::Stopped.as_str());
        } else if recorded_stopped {
            after.set("run_state", RunState::Started.as_str());
        }
        let refreshed = self.observed().is_some();
        let package_changed = server.action == Action::Update
            || (server.action == Action::Import && !server.adopted_as_is)
            || before
                .and_then(|b| b.get("package_sha256"))
                .and_then(Value::as_str)
                .is_some_and(|old| old != server_package);
        let mut restart = match (pushed.is_empty(), package_changed) {
            (false, true) => Some(format!("{} and the package changed", pushed.join(", "))),
            (false, false) => Some(format!("{} changed", pushed.join(", "))),
            (true, true) => Some("the package changed".to_string()),
            (true, false) => None,
        };
        if let (Some(b), Some(obs)) = (before, node.observed)
            && !tainted
        {
            for fix in self.node_drift(&address, b, obs, want_stopped || recorded_stopped) {
                restart = Some(match restart {
                    Some(r) => format!("{r}; {fix}"),
                    None => fix,
                });
            }
        }
        if let (Some(b), Some(obs)) = (before, node.observed)
            && !tainted
            && !want_stopped
        {
            let servant = adapter::servant(self.topology.application(), node.server, node.kind.obj_name());
            let check = adapter::check(&servant, node.ip, b, obs);
            match &check {
                AdapterCheck::Drifted { found, wanted, .. } => self.drift.push(format!(
                    "{address}: adapter `{servant}` is `{found}` in Tars, tarsform recorded `{wanted}` (changed outside tarsform)"
                )),
                AdapterCheck::Missing { servant, wanted } => self.drift.push(format!(
                    "{address}: Tars has no adapter `{servant}` (deleted outside tarsform){}",
                    if wanted.is_none() {
                        "; no endpoint recorded to add back: register the node again"
                    } else {
                        ""
                    }
                )),
                AdapterCheck::Fine => {}
            }
            if let Some((fix, text)) = check.fix() {
                if let Some(endpoint) = fix.get("endpoint") {
                    after.set("adapter_endpoint", endpoint.clone());
                }
                after.set("adapter_fix", fix);
                restart = Some(match restart {
                    Some(r) => format!("{r}; {text}"),
                    None => text,
                });
            }
        }
        // Apply runs the server's package only when it changes; else the node's own.
        if ((before.is_some() || node.observed.is_some()) && package_changed)
            || restart.as_deref().is_some_and(|r| r.contains(REPATCH_FIX))
        {
            after.set("repatch", true);
        }
        let gone = before.is_some() && refreshed && node.observed.is_none();
        let (action, reason) = if let (None, Some(obs)) = (before, node.observed) {
            after.set("server_id", obs.server_id);
            after.set("imported", true);
            if let Some(port) = obs.adapter_port {
                after.set("adapter_port", port);
            }
            let servant = adapter::servant(self.topology.application(), node.server, node.kind.obj_name());
            if let Some(found) = adapter::find(obs, &servant) {
                after.set("adapter_endpoint", found.endpoint.clone());
            }
            let mut reason = format!(
                "exists in Tars (server id {}): adopt it, never re-deploy",
                obs.server_id
            );
            if want_stopped {
                if running == Some(true) {
                    after.set("run_command", "stop");
                    reason.push_str(&format!("; stop it ({STOPPED})"));
                }
            } else if let Some(r) = &restart {
                after.set("restart_reason", r.clone());
                reason.push_str(&format!("; restart: {r}"));
            }
            (Action::Import, reason)
        } else if before.is_none() || gone || tainted {
            let (register, how) = match register_source.as_deref() {
                Some(source) => (
                    json!({ "method": "expand", "source": source }),
                    format!("expand from {source}"),
                ),
                None => (
                    json!({ "method": "deploy" }),
                    "deploy_server as the first node of the server".to_string(),
                ),
            };
            self.check_ca_for_new_node(node);
            register_source.get_or_insert_with(|| node.ip.to_string());
            after.set("register", register);
            after.unknown("server_id");
            after.unknown("adapter_port");
            let mut reason = if gone {
                self.drift.push(format!(
                    "{address}: in the state, but gone from Tars (undeployed outside tarsform)"
                ));
                format!("in state but gone from Tars: register again ({how})")
            } else if before.is_some() {
                format!("tainted: an earlier apply did not finish it; undeploy and register again ({how})")
            } else if want_stopped {
                format!("new node: {how}, push configs")
            } else {
                format!("new node: {how}, push configs, patch and start")
            };
            if want_stopped {
                reason.push_str(&format!("; it stays stopped ({STOPPED})"));
            }
            (
                if before.is_some() && !gone {
                    Action::Replace
                } else {
                    Action::Create
                },
                reason,
            )
        } else if want_stopped && (running == Some(true) || (running.is_none() && !recorded_stopped)) {
            after.set("run_command", "stop");
            if recorded_stopped {
                self.drift.push(format!(
                    "{address}: runs, though tarsform stopped it (started outside tarsform)"
                ));
            }
            let mut reason = format!("stop it ({STOPPED})");
            if let Some(r) = restart {
                reason.push_str(&format!("; {r}: takes effect when it starts"));
            }
            (Action::Update, reason)
        } else if want_stopped && !recorded_stopped {
            after.set("run_command", "stop");
            (
                Action::Update,
                format!("stopped in Tars: record it as stopped ({STOPPED})"),
            )
        } else if want_stopped {
            (Action::NoOp, String::new())
        } else if recorded_stopped {
            after.set("run_command", "start");
            let mut reason = "start it (state = \"started\")".to_string();
            if let Some(r) = restart {
                reason.push_str(&format!(" with what changed: {r}"));
            }
            (Action::Update, reason)
        } else if let Some(r) = restart {
            after.set("restart_reason", r.clone());
            (Action::Update, format!("restart: {r}"))
        } else if self.input.options.restart {
            after.set("restart_reason", RESTART_REQUESTED);
            (Action::Update, format!("restart: {RESTART_REQUESTED}"))
        } else {
            (Action::NoOp, String::new())
        };
        self.push(address, tainted, action, reason, before, after);
    }

    /// A new node of a service type whose nodes already exist must use their CA.
    fn check_ca_for_new_node(&mut self, node: &NodeCtx<'_>) {
        let kind = node.kind;
        let ca = &self.cas[&kind];
        let tars_ca = self.served_ca(kind);
        let matches_tars = match (tars_ca, &ca.digest) {
            (Some(t), Some(d)) => Some(pem_sha256(t) == *d),
            _ => None,
        };
        let signs_with_key = self
            .preconditions
            .ca
            .get(kind.as_str())
            .and_then(|c| c.signs_with_key.clone());
        self.preconditions.ca.insert(
            kind.as_str().to_string(),
            CaPrecondition {
                dir: ca.dir.clone(),
                cert_sha256: ca.digest.clone(),
                matches_tars,
                cert_file: sm_ca_file(self.topology, kind),
                signs_with_key,
            },
        );
        if !self.kinds_with_nodes.contains(&kind) {
            return;
        }
        let err = if ca.digest.is_none() {
            PlanError::CaMissing {
                server: node.server.to_string(),
                ip: node.ip.to_string(),
                kind: kind.as_str().to_string(),
                dir: ca.dir.clone(),
            }
        } else if matches_tars == Some(false) {
            PlanError::CaMismatch {
                server: node.server.to_string(),
                ip: node.ip.to_string(),
                kind: kind.as_str().to_string(),
                dir: ca.dir.clone(),
            }
        } else {
            return;
        };
        self.blockers.push((Address::node(node.server, node.ip), err));
    }

    /// Differences between what Tars runs and what the state records, each recorded as
    /// drift; returns the fix for each (the node restart carries it out).
    /// `stopped_on_purpose`: the node is stopped by `state = "stopped"` (wanted or
    /// recorded), so a stopped node is no drift and nothing restarts it.
    fn node_drift(
        &mut self,
        address: &Address,
        before: &Attrs,
        obs: &ObservedNode,
        stopped_on_purpose: bool,
    ) -> Vec<String> {
        let mut fixes = Vec::new();
        let recorded = before.get("patch_id").and_then(Value::as_u64);
        let running = obs.patch_version.trim().parse::<u64>().ok();
        if let (Some(recorded), Some(running)) = (recorded, running)
            && recorded != running
        {
            self.drift.push(format!(
                "{address}: Tars runs patch {running}, tarsform recorded patch {recorded} (patched outside tarsform)"
            ));
            fixes.push(REPATCH_FIX.to_string());
        } else if let Some(package) = before
            .get("package_sha256")
            .and_then(Value::as_str)
            .and_then(|p| p.strip_prefix("tars-patch:"))
        {
            self.drift.push(format!(
                "{address}: runs patch {package}, which tarsform did not upload (found by refresh)"
            ));
        }
        if stopped_on_purpose {
            // A re-patch waits for the start; a restart would start the node.
            fixes.clear();
        } else if !is_running(obs) {
            self.drift.push(format!(
                "{address}: setting_state `{}`, present_state `{}` (stopped outside tarsform)",
                obs.setting_state, obs.present_state
            ));
            fixes.push("start it".to_string());
        }
        fixes
    }
}

/// Whether Tars runs the node (set to run, and running).
fn is_running(obs: &ObservedNode) -> bool {
    obs.setting_state == "active" && obs.present_state == "active"
}

/// `Some("sm_ca.crt")` when `kind` uses SM certificates: plans name the SM CA file and
/// stay as they were for RSA.
pub(super) fn sm_ca_file(topology: &Topology, kind: ServiceKind) -> Option<String> {
    let mode = topology.chain.cert_mode(kind);
    mode.is_sm().then(|| mode.ca_cert_file().to_string())
}
