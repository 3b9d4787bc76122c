# Nodes tarsform imported were deployed outside it (by BcosBuilder, by hand): they may
# serve traffic tarsform does not know about. Destroying one needs a reviewed exception.
package tarsform.no_destroy_imported

import rego.v1

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "node"
	"delete" in rc.change.actions
	rc.change.before.imported == true
	msg := sprintf("%s was imported (deployed outside tarsform): this plan destroys it", [rc.address])
}
