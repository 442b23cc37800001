//go:build !(darwin || linux)

package local

// lowOnSpace cannot tell here: a run's log is made by its first batch.
func lowOnSpace(string) bool { return false }
