//! `ca[...]`: the chain-level CA per service type (imported, created, never deleted).

use super::*;

impl Planner<'_> {
    pub(super) fn plan_cas(&mut self) {
        for kind in ServiceKind::ALL {
            let address = Address::ca(kind);
            if !self.input.graph.contains(&address) {
                continue;
            }
            let ca = &self.cas[&kind];
            let before = self.state_attrs(&address);
            let mut after = Desired::default();
            after.set("dir", ca.dir.clone());
            after.set("imported", ca.pem.is_some());
            if let Some(file) = super::node::sm_ca_file(self.topology, kind) {
                after.set("cert_file", file);
            }
            let old = before.and_then(|b| b.get("cert_sha256")).and_then(Value::as_str);
            let (action, reason) = match (&ca.digest, before) {
                (Some(d), None) => {
                    after.set("cert_sha256", d.clone());
                    (Action::Import, format!("use the existing CA at {}", ca.dir))
                }
                (Some(d), Some(_)) => {
                    after.set("cert_sha256", d.clone());
                    if old == Some(d) {
                        (Action::NoOp, String::new())
                    } else {
                        (Action::Update, format!("ca.crt at {} differs from state", ca.dir))
                    }
                }
                (None, before) => {
                    after.unknown("cert_sha256");
                    if before.is_some() && !self.certs_to_sign.contains(&kind) {
                        self.notes.push(format!(
                            "{address}: no CA files at {}; new {kind} certificates cannot be made until they are restored",
                            ca.dir
                        ));
                        continue;
                    }
                    let key_type = self.topology.chain.cert_mode(kind).key_type();
                    (
                        Action::Create,
                        format!("no CA at {}: generate one ({key_type}, CA:TRUE)", ca.dir),
                    )
                }
            };
            self.push(address, action, reason, before, after);
        }
    }
}
