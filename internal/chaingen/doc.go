// Package chaingen holds 2000 distinct generated functions for the chain
// benchmarks (cmd/flowbench chain, and package codeversion's benchmark):
// Funcs[0] returns 0 and every other one adds 1 to its parent's int, like
// the chain of Hamilton's own benchmark. Distinct functions make code
// versioning part of the measured cost.
//
//go:generate go run gen.go
package chaingen
