//! Deletions: what is in state but no longer desired (or everything, for destroy).

use super::*;

impl Planner<'_> {
    pub(super) fn plan_deletions(&mut self) {
        let Some(state) = self.state() else { return };
        // Both sorted by address: the graph is walked alongside, not searched each time.
        let mut desired = self.input.graph.addresses().peekable();
        for (address, resource) in &state.resources {
            while desired.next_if(|d| *d < address).is_some() {}
            if !self.input.options.destroy && desired.peek() == Some(&address) {
                continue;
            }
            match address.kind() {
                ResourceKind::Ca => {
                    let dir = resource
                        .attributes
                        .get("dir")
                        .and_then(Value::as_str)
                        .unwrap_or("its directory");
                    self.notes
                        .push(format!("{address} is kept: CAs are never deleted ({dir})"));
                    continue;
                }
                ResourceKind::Tarsnode => continue,
                _ => {}
            }
            let reason = self.deletion_reason(address);
            self.changes.insert(
                address.clone(),
                ResourceChange {
                    address: address.clone(),
                    action: Action::Delete,
                    reason,
                    before: Some(resource.attributes.clone()),
                    after: None,
                    after_unknown: VecSet::new(),
                    sensitive: if address.leaf_name().is_some_and(|f| SENSITIVE_FILES.contains(&f)) {
                        VecSet::from(["content".to_string()])
                    } else {
                        VecSet::new()
                    },
                    depends_on: resource.dependencies.clone(),
                },
            );
        }
    }

    fn deletion_reason(&self, address: &Address) -> String {
        let why = self
            .switch_deletion_reason(address)
            .unwrap_or_else(|| self.why_deleted(address));
        match self.unmanaged_nodes(address) {
            0 => why,
            n => format!(
                "{why}; {n} node(s) not managed by tarsform remain in Tars, so its server-level config rows stay"
            ),
        }
    }

    /// For a server: how many of its nodes Tars reports that the state does not hold.
    fn unmanaged_nodes(&self, address: &Address) -> usize {
        let (ResourceKind::Server, Some(server)) = (address.kind(), address.server_name()) else {
            return 0;
        };
        let Some(obs) = self.observed().and_then(|o| o.servers.get(server)) else {
            return 0;
        };
        obs.nodes
            .keys()
            .filter(|ip| self.state_attrs(&Address::node(server, ip)).is_none())
            .count()
    }

    fn why_deleted(&self, address: &Address) -> String {
        if self.input.options.destroy {
            return "destroy requested".into();
        }
        let Some(server) = address.server_name() else {
            return "no longer in the topology".into();
        };
        let gone = match (address.kind(), self.observed()) {
            (ResourceKind::Node, Some(o)) if o.node(server, address.ip().unwrap_or_default()).is_none() => {
                " (already gone from Tars)"
            }
            _ => "",
        };
        if self.input.graph.contains(&Address::server(server)) {
            let ip = address.ip().unwrap_or_default();
            return format!("{ip} is no longer in deploy_ip of {server}{gone}");
        }
        let agency = ServiceKind::ALL
            .into_iter()
            .find_map(|k| server.strip_suffix(k.server_suffix()).map(|a| (a, k)));
        match agency {
            Some((agency, kind)) if self.topology.agencies.iter().any(|a| a.name == agency) => {
                format!("agency {agency} has no {kind} service any more{gone}")
            }
            Some((agency, _)) => format!("agency {agency} was removed from the topology{gone}"),
            None => format!("{server} is no longer in the topology{gone}"),
        }
    }
}
