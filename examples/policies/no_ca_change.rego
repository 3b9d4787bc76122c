# The chain's CAs sign every node certificate: replacing or deleting one cuts every
# node off from its peers and SDK clients. Creating the CA of a new chain and adopting
# an existing one are allowed.
package tarsform.no_ca_change

import rego.v1

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "ca"
	some action in rc.change.actions
	action in {"update", "delete"}
	msg := sprintf("%s would be %sd: CA changes are not allowed by policy", [rc.address, action])
}
