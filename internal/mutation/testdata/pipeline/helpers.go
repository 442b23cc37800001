package main

import "fmt"

// otherFileHelp is the helper of OtherFileHelper, in another file than the
// node.
func otherFileHelp(x int) int {
	return x*10 + 3
}

// acc has the method Method calls.
type acc struct {
	base int
}

func (a acc) add(x int) int {
	return a.base + x
}

// sumOf is the generic helper of GenericHelper.
func sumOf[T int | float64](xs []T) T {
	var s T
	for _, v := range xs {
		s += v
	}
	return s
}

// helperLimit is read by withLimit, not by the node.
const helperLimit = 7

func withLimit(x int) int {
	return x + helperLimit
}

// Greeter is the interface InterfaceMethod calls.
type Greeter interface {
	Greet(x int) string
}

type english struct{}

func (english) Greet(x int) string {
	return fmt.Sprintf("hello %d", x)
}

var greeter Greeter = english{}

// Scaler is the interface InterfaceImpl calls.
type Scaler interface {
	Scale(x int) int
}

type byTen struct{}

func (byTen) Scale(x int) int { return x * 10 }

type byHundred struct{}

func (byHundred) Scale(x int) int { return x * 100 }

var scaler Scaler = byTen{}

func renameHelp(x int) int {
	count := x + 8
	count *= 2
	return count
}
