// Package util holds a helper of the pipeline in another package.
package util

// Scale is called by the node other_package_helper.
func Scale(x int) int {
	return x * 100
}
