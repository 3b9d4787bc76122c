//! Adapter drift: a managed node's servant endpoint (host, port, timeout) as Tars has it,
//! compared with what tarsform recorded (`adapter_endpoint`, or the node's IP and
//! `adapter_port` for nodes recorded before endpoints were).

use super::*;
use crate::plan::{Endpoint, ObservedAdapter};

/// What the planner does about a node's adapter.
pub enum AdapterCheck {
    /// As recorded (or not read).
    Fine,
    /// Tars has no adapter for the node's servant: add it back (`wanted`, when the
    /// state records an endpoint or a port), then restart the node.
    Missing { servant: String, wanted: Option<String> },
    /// The endpoint changed outside tarsform: set it back, then restart the node.
    Drifted {
        id: u64,
        servant: String,
        found: String,
        wanted: String,
    },
}

impl AdapterCheck {
    /// The fix as planned (`after.adapter_fix`) and the reason text.
    pub fn fix(&self) -> Option<(Value, String)> {
        match self {
            AdapterCheck::Drifted {
                id,
                servant,
                found,
                wanted,
            } => Some((
                json!({ "id": id, "servant": servant, "found": found, "endpoint": wanted }),
                format!("set adapter `{servant}` back to `{wanted}`"),
            )),
            AdapterCheck::Missing {
                servant,
                wanted: Some(wanted),
            } => Some((
                json!({ "servant": servant, "endpoint": wanted }),
                format!("add adapter `{servant}` back as `{wanted}`"),
            )),
            _ => None,
        }
    }
}

/// `<app>.<server>.<obj_name>`.
pub fn servant(app: &str, server: &str, obj_name: &str) -> String {
    format!("{app}.{server}.{obj_name}")
}

/// The adapter of `servant` among what Tars reports for a node.
pub(super) fn find<'o>(obs: &'o ObservedNode, servant: &str) -> Option<&'o ObservedAdapter> {
    obs.adapters.as_ref()?.iter().find(|a| a.servant == servant)
}

/// Compares a managed node's adapter with what tarsform recorded (`before`).
pub fn check(servant: &str, ip: &str, before: &Attrs, obs: &ObservedNode) -> AdapterCheck {
    if obs.adapters.is_none() {
        return AdapterCheck::Fine;
    }
    let Some(adapter) = find(obs, servant) else {
        let recorded = before.get("adapter_endpoint").and_then(Value::as_str);
        let port = before.get("adapter_port").and_then(Value::as_u64);
        let wanted = match (recorded, port) {
            (Some(recorded), _) => Some(Endpoint::parse(recorded).to_string()),
            // TarsWeb's deploy_server endpoint.
            (None, Some(port)) => Some(format!("tcp -h {ip} -t 60000 -p {port} -e 0")),
            (None, None) => None,
        };
        return AdapterCheck::Missing {
            servant: servant.to_string(),
            wanted,
        };
    };
    let found = Endpoint::parse(&adapter.endpoint);
    let wanted = match before.get("adapter_endpoint").and_then(Value::as_str) {
        Some(recorded) => Endpoint::parse(recorded),
        None => {
            let mut wanted = found.clone();
            wanted.set("-h", ip);
            if let Some(port) = before.get("adapter_port").and_then(Value::as_u64) {
                wanted.set("-p", &port.to_string());
            }
            wanted
        }
    };
    if wanted == found {
        return AdapterCheck::Fine;
    }
    AdapterCheck::Drifted {
        id: adapter.id,
        servant: servant.to_string(),
        found: found.to_string(),
        wanted: wanted.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVANT: &str = "chain0.agencyABcosRpcService.RpcServiceObj";

    fn node(endpoint: &str) -> ObservedNode {
        ObservedNode {
            adapters: Some(vec![ObservedAdapter {
                id: 5,
                servant: SERVANT.into(),
                endpoint: endpoint.into(),
            }]),
            ..Default::default()
        }
    }

    fn recorded(pairs: &[(&str, Value)]) -> Attrs {
        pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    }

    #[test]
    fn a_recorded_endpoint_is_compared_word_for_word() {
        let before = recorded(&[(
            "adapter_endpoint",
            json!("tcp -h 10.0.0.1 -t 60000 -p 20001 -e 0"),
        )]);
        let same = node("tcp  -h 10.0.0.1 -t 60000 -p 20001 -e 0");
        assert!(matches!(
            check(SERVANT, "10.0.0.1", &before, &same),
            AdapterCheck::Fine
        ));
        let rolled = node("tcp -h 10.0.0.1 -t 20000 -p 20001 -e 0");
        let AdapterCheck::Drifted {
            id, found, wanted, ..
        } = check(SERVANT, "10.0.0.1", &before, &rolled)
        else {
            panic!("a changed timeout is drift");
        };
        assert_eq!(
            (id, found.as_str()),
            (5, "tcp -h 10.0.0.1 -t 20000 -p 20001 -e 0")
        );
        assert_eq!(wanted, "tcp -h 10.0.0.1 -t 60000 -p 20001 -e 0");
    }

    #[test]
    fn without_a_recorded_endpoint_host_and_port_are_checked() {
        let before = recorded(&[("adapter_port", json!(20001))]);
        let ok = node("tcp -h 10.0.0.1 -t 20000 -p 20001 -e 0");
        assert!(matches!(
            check(SERVANT, "10.0.0.1", &before, &ok),
            AdapterCheck::Fine
        ));
        let moved = node("tcp -h 10.0.0.9 -t 20000 -p 24000 -e 0");
        let AdapterCheck::Drifted { wanted, .. } = check(SERVANT, "10.0.0.1", &before, &moved) else {
            panic!("a moved host and port are drift");
        };
        assert_eq!(wanted, "tcp -h 10.0.0.1 -t 20000 -p 20001 -e 0");
    }

    #[test]
    fn a_missing_adapter_is_found_only_when_adapters_were_read() {
        let before = recorded(&[("adapter_port", json!(20001))]);
        let unread = ObservedNode::default();
        assert!(matches!(
            check(SERVANT, "10.0.0.1", &before, &unread),
            AdapterCheck::Fine
        ));
        let none = ObservedNode {
            adapters: Some(Vec::new()),
            ..Default::default()
        };
        let missing = check(SERVANT, "10.0.0.1", &before, &none);
        let AdapterCheck::Missing { wanted, .. } = &missing else {
            panic!("no adapter read is a missing adapter");
        };
        assert_eq!(wanted.as_deref(), Some("tcp -h 10.0.0.1 -t 60000 -p 20001 -e 0"));
        let (fix, _) = missing.fix().unwrap();
        assert_eq!(fix.get("id"), None, "an added adapter has no id yet");
        let unknown_port = check(SERVANT, "10.0.0.1", &Attrs::new(), &none);
        assert!(
            unknown_port.fix().is_none(),
            "no endpoint to add back without a port"
        );
    }
}
