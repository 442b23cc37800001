// Package pkg1 has a function F with the same text as pkg2.F; only the
// helpers differ.
package pkg1

// F calls this package's helper.
func F(x int) int {
	return helper(x)
}

func helper(x int) int { return x + 1 }
