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
            let (before, tainted) = self.recorded(&address);
            let mut after = Desired::default();
            after.set("dir", ca.dir.clone());
            let imported = before.and_then(|b| b.get("imported")).cloned();
            after.set("imported", imported.unwrap_or(Value::Bool(ca.pem.is_some())));
            if let Some(file) = super::node::sm_ca_file(self.topology, kind) {
                after.set("cert_file", file);
            } else if before.is_some_and(|b| b.contains_key("cert_file")) {
                // Switched back from SM: the RSA CA's file, not the recorded SM one.
                after.set("cert_file", "ca.crt");
            }
            let old = before.and_then(|b| b.get("cert_sha256")).and_then(Value::as_str);
            let pem_recorded = before.is_some_and(|b| b.contains_key("cert_pem"));
            match &ca.pem {
                Some(pem) => after.set("cert_pem", *pem),
                None => after.unknown("cert_pem"),
            }
            let (action, reason) = match (&ca.digest, before) {
                (Some(d), None) => {
                    after.set("cert_sha256", d.clone());
                    (Action::Import, format!("use the existing CA at {}", ca.dir))
                }
                (Some(d), Some(_)) => {
                    after.set("cert_sha256", d.clone());
                    if !ca.local {
                        self.notes.push(format!(
                            "{address}: no ca.crt at {}; CA continuity is checked against the CA certificate in state",
                            ca.dir
                        ));
                    }
                    if old != Some(d) && self.switching.contains(&kind) {
                        let key_type = self.topology.chain.cert_mode(kind).key_type();
                        (
                            Action::Update,
                            format!("--switch-crypto: use the {key_type} CA at {}", ca.dir),
                        )
                    } else if old != Some(d) {
                        (Action::Update, format!("ca.crt at {} differs from state", ca.dir))
                    } else if !pem_recorded {
                        (
                            Action::Update,
                            "record the CA certificate in state, so plans can check CA continuity without the CA files"
                                .to_string(),
                        )
                    } else {
                        (Action::NoOp, String::new())
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
            self.push(address, tainted, action, reason, before, after);
        }
    }
}
