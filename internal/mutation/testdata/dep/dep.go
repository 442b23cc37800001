// Package dep is a module used by the pipeline through a replace directive.
package dep

import "strconv"

// Value is called by the node dep_module.
func Value(x int) string {
	return "dep-" + strconv.Itoa(x)
}
