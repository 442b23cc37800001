package codeversion_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/flowcache/flowcache/core/codeversion"
)

// cleanName is a dataflow node.
func cleanName(raw string) string {
	return strings.ToLower(strings.TrimSpace(raw))
}

// cleanNameAgain is cleanName with other comments and layout.
func cleanNameAgain(raw string) string {
	// Lower-case the trimmed name.
	return strings.ToLower(
		strings.TrimSpace(raw),
	)
}

// cleanTitle differs from cleanName in one identifier.
func cleanTitle(raw string) string {
	return strings.ToUpper(strings.TrimSpace(raw))
}

func Example() {
	info, err := codeversion.Of(cleanName)
	if err != nil {
		panic(err)
	}
	if !info.FromSource {
		// A real caller reports info.Fallback as an event.
		fmt.Println("fallback:", info.Fallback)
		return
	}
	fmt.Println(info.Func)
	fmt.Println(len(info.Version), "hex digits")
	// Output:
	// github.com/flowcache/flowcache/core/codeversion_test.cleanName
	// 64 hex digits
}

// A cache compares the version stored with a result to the current one.
func ExampleOf_changed() {
	stored, _ := codeversion.Of(cleanName)
	for _, fn := range []func(string) string{cleanNameAgain, cleanTitle} {
		now, _ := codeversion.Of(fn)
		fmt.Printf("%s changed: %v\n", now.Func[strings.LastIndex(now.Func, ".")+1:], now.Version != stored.Version)
	}
	// Output:
	// cleanNameAgain changed: false
	// cleanTitle changed: true
}

func ExampleOf_notAFunc() {
	_, err := codeversion.Of(42)
	fmt.Println(err)
	fmt.Println(errors.Is(err, codeversion.ErrNotFunc))
	// Output:
	// codeversion: not a func: got int
	// true
}
