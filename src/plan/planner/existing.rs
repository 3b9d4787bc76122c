//! What exists already: the state's records (looked up by hash), the nodes that exist
//! and stay, and the servers that may have any.

use super::*;

impl<'a> Planner<'a> {
    pub(super) fn state(&self) -> Option<&'a State> {
        self.input.state
    }

    pub(super) fn observed(&self) -> Option<&'a Observed> {
        self.input.observed
    }

    /// What the state records of `address`: its attributes, and whether it is tainted.
    pub(super) fn recorded(&self, address: &Address) -> (Option<&'a Attrs>, bool) {
        match self.recorded.get(address) {
            Some(r) => (Some(&r.attributes), r.status == ResourceStatus::Tainted),
            None => (None, false),
        }
    }

    pub(super) fn state_attrs(&self, address: &Address) -> Option<&'a Attrs> {
        self.recorded(address).0
    }

    pub(super) fn is_desired(&self, address: &Address) -> bool {
        !self.input.options.destroy && self.input.graph.contains(address)
    }

    /// Nodes of `server` that exist and are kept: in Tars (when refreshed) or in state,
    /// minus those this plan deletes or replaces (tainted). Unmanaged nodes seen in Tars
    /// count.
    pub(super) fn existing_nodes(&self, server: &str) -> BTreeSet<String> {
        // Unmanaged nodes (in Tars only) are kept; recorded ones when desired and untainted.
        let kept = |address: &Address, recorded: Option<&ResourceState>| {
            recorded.is_none_or(|r| r.status != ResourceStatus::Tainted && self.is_desired(address))
        };
        if let Some(observed) = self.observed() {
            let Some(obs) = observed.servers.get(server) else {
                return BTreeSet::new();
            };
            obs.nodes
                .keys()
                .filter(|ip| {
                    let address = Address::node(server, ip);
                    kept(&address, self.recorded.get(&address).copied())
                })
                .cloned()
                .collect()
        } else if let Some(state) = self.state() {
            // Node addresses of one server are contiguous in address order.
            state
                .resources
                .range(Address::node(server, "")..)
                .take_while(|(a, _)| a.kind() == ResourceKind::Node && a.server_name() == Some(server))
                .filter(|(a, r)| kept(a, Some(r)))
                .filter_map(|(a, _)| a.ip().map(str::to_string))
                .collect()
        } else {
            BTreeSet::new()
        }
    }

    /// The servers that may have existing nodes: those Tars reports, and those with
    /// nodes in the state (any other has none).
    pub(super) fn servers_with_nodes(&self) -> BTreeSet<&'a str> {
        let mut servers = BTreeSet::new();
        if let Some(o) = self.observed() {
            servers.extend(o.servers.keys().map(String::as_str));
        }
        if let Some(s) = self.state() {
            // Node addresses come last, grouped by server.
            let nodes = s.resources.range(Address::node("", "")..);
            let mut names: Vec<&str> = nodes.filter_map(|(a, _)| a.server_name()).collect();
            names.dedup();
            servers.extend(names);
        }
        servers
    }

    pub(super) fn kind_has_existing_nodes(&self, kind: ServiceKind) -> bool {
        self.servers_with_nodes()
            .into_iter()
            .filter(|s| kind_of_server(s) == Some(kind))
            .any(|s| !self.existing_nodes(s).is_empty())
    }
}
