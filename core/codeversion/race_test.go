//go:build race

package codeversion

const raceEnabled = true
