// Package pkg2 has a function F with the same text as pkg1.F; only the
// helpers differ.
package pkg2

// F calls this package's helper.
func F(x int) int {
	return helper(x)
}

func helper(x int) int { return x + 2 }
