// Package rel is a module served at two versions (v1.0.0, v1.1.0) by the
// suite's file proxy.
package rel

import "strconv"

// Value is called by the node dep_required.
func Value(x int) string {
	return "rel-v1.0.0-" + strconv.Itoa(x)
}
