//! Small plans for the view's unit tests.

use serde_json::Value;

use crate::addr::Address;
use crate::plan::{Action, Attrs, Plan, Preconditions, PriorState, ResourceChange};

pub(crate) fn change(
    address: Address,
    action: Action,
    before: Option<Attrs>,
    after: Option<Attrs>,
) -> ResourceChange {
    ResourceChange {
        address,
        action,
        reason: "because".into(),
        before,
        after,
        after_unknown: Default::default(),
        sensitive: Default::default(),
        depends_on: Default::default(),
    }
}

pub(crate) fn attrs(pairs: &[(&str, Value)]) -> Attrs {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

pub(crate) fn plan(changes: Vec<ResourceChange>) -> Plan {
    Plan {
        format_version: 1,
        tool_version: "0.1.0".into(),
        chain_id: "chain0".into(),
        application: "chain0".into(),
        tars_url: "http://127.0.0.1:3000/".into(),
        generated_root: "generated".into(),
        prior: Some(PriorState {
            lineage: "L".into(),
            serial: 3,
        }),
        topology_digest: String::new(),
        inputs_digest: String::new(),
        observed_digest: None,
        refreshed: true,
        destroy: false,
        changes,
        preconditions: Preconditions::default(),
        notes: vec![],
        drift: vec![],
    }
}

/// A self-signed certificate as PEM.
pub(crate) fn cert_pem(cn: &str) -> String {
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    params.not_after = rcgen::date_time_ymd(2126, 11, 5);
    let key = rcgen::KeyPair::generate().expect("key");
    params.self_signed(&key).expect("certificate").pem()
}
