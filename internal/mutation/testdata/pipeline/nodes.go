package main

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"example.com/alt"
	"example.com/dep"
	"example.com/pipeline/util"
	"example.com/rel"
)

// SameFileHelper calls a helper declared in this file.
func SameFileHelper(x int) int {
	return sameFileHelp(x)
}

// sameFileHelp is the helper of SameFileHelper.
func sameFileHelp(x int) int {
	return x*10 + 1
}

// Downstream depends on same_file_helper.
func Downstream(v int) int {
	return v * 2
}

// OtherFileHelper calls a helper declared in helpers.go.
func OtherFileHelper(x int) int {
	return otherFileHelp(x)
}

// OtherPackageHelper calls a helper of package util.
func OtherPackageHelper(x int) int {
	return util.Scale(x)
}

// Method calls a method.
func Method(x int) int {
	return acc{base: 2}.add(x)
}

// GenericHelper calls a generic helper.
func GenericHelper(x int) int {
	return sumOf([]int{x, x + 1})
}

// factor is read by ConstRead.
const factor = 3

// ConstRead reads a package-level constant.
func ConstRead(x int) int {
	return x * factor
}

// Parity depends on const_read; its value survives some edits of factor.
func Parity(v int) int {
	return v % 2
}

// ParityLabel depends on parity.
func ParityLabel(p int) string {
	if p == 0 {
		return "even"
	}
	return "odd"
}

// greeting is a package variable with an initializer.
var greeting = strings.Repeat("ab", 2)

// VarInitializer reads a package variable.
func VarInitializer(x int) string {
	return greeting + strconv.Itoa(x)
}

// HelperConst calls a helper that reads a constant.
func HelperConst(x int) int {
	return withLimit(x)
}

// transform is a func-typed package variable.
var transform = double

func double(x int) int { return x * 2 }

func triple(x int) int { return x * 3 }

// FuncVar calls the function held by a package variable.
func FuncVar(x int) int {
	return transform(x)
}

// initValue is set by init.
var initValue int

func init() {
	initValue = 11
}

// InitGlobal reads a variable set in init.
func InitGlobal(x int) int {
	return x + initValue
}

//go:embed data.txt
var embedded string

// EmbedFile reads an embedded file.
func EmbedFile(x int) string {
	return strings.TrimSpace(embedded) + ":" + strconv.Itoa(x)
}

// box is used by StructField; it is not its result type.
type box struct {
	W, H int
}

// StructField formats a struct value.
func StructField(x int) string {
	return fmt.Sprintf("%v", box{W: x, H: 2})
}

// record is marshalled by StructTag.
type record struct {
	Name string `json:"name"`
}

// StructTag marshals a struct with a field tag.
func StructTag(x int) string {
	b, err := json.Marshal(record{Name: "n" + strconv.Itoa(x)})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// InterfaceMethod calls an interface method whose implementation is edited.
func InterfaceMethod(x int) string {
	return greeter.Greet(x)
}

// InterfaceImpl calls an interface method through a variable whose dynamic
// type is switched.
func InterfaceImpl(x int) int {
	return scaler.Scale(x)
}

// DepModule calls a module replaced by a directory.
func DepModule(x int) string {
	return dep.Value(x)
}

// DepReplaced calls a module whose replacement directory is switched.
func DepReplaced(x int) string {
	return alt.Value(x)
}

// DepRequired calls a module required at a version.
func DepRequired(x int) string {
	return rel.Value(x)
}

// buildTag is set with -ldflags -X main.buildTag=....
var buildTag = "unset"

// LdflagsVar reads a variable set by the linker.
func LdflagsVar(x int) string {
	return buildTag + strconv.Itoa(x)
}

// OldBinary is edited between two builds of the old-binary case.
func OldBinary(x int) int {
	return x * 7
}

// Trimpath is edited between two builds with -trimpath.
func Trimpath(x int) int {
	return x * 11
}

// Plain is another node's code, edited alone.
func Plain(x int) int {
	return x + 1000
}

// RenameLocal has a local variable that is renamed.
func RenameLocal(x int) int {
	total := x * 3
	total += 4
	return total
}

// RenameHelperLocal calls a helper whose local variable is renamed.
func RenameHelperLocal(x int) int {
	return renameHelp(x)
}
