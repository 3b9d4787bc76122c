# At most `max_restarts` nodes of one server restart in one apply, so a bad config
# cannot take down every replica of an RPC or gateway service at once. A node change
# that updates it in place (config, package) restarts it.
package tarsform.max_restarts_per_server

import rego.v1

max_restarts := 1

restarting_nodes(server) := {rc.address |
	some rc in input.resource_changes
	rc.type == "node"
	rc.name == server
	"update" in rc.change.actions
}

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "node"
	n := count(restarting_nodes(rc.name))
	n > max_restarts
	msg := sprintf("%s: %d nodes restart in one apply (at most %d): split the change with --target", [rc.name, n, max_restarts])
}
