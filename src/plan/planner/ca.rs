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
                    (
                        Action::Create,
                        format!("no CA at {}: generate one (RSA-2048, CA:TRUE)", ca.dir),
                    )
                }
            };
            self.push(address, action, reason, before, after);
        }
    }
}
