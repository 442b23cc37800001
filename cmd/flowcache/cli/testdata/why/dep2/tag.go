// Package dep is a module the pipeline requires, replaced by a directory:
// another version of ../dep.
package dep

import "fmt"

// Tag labels x.
func Tag(x float64) string { return fmt.Sprintf("v2:%.2f", x) }
