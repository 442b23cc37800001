// Package dep is a module the pipeline requires, replaced by a directory.
package dep

import "fmt"

// Tag labels x.
func Tag(x float64) string { return fmt.Sprintf("v1:%.2f", x) }
