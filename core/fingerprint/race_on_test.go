//go:build race

package fingerprint

// raceEnabled: sync.Pool drops items at random under the race detector.
const raceEnabled = true
