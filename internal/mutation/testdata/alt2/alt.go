// Package alt is a module used by the pipeline through a replace directive
// whose directory is switched (alt1, alt2).
package alt

import "strconv"

// Value is called by the node dep_replaced.
func Value(x int) string {
	return "alt2-" + strconv.Itoa(x)
}
