package formats

// SetGobChunkBytes sets the size gob chunks aim at, for tests of many
// chunks on small values; the returned func restores it.
func SetGobChunkBytes(n int64) (restore func()) {
	old := gobChunkBytes
	gobChunkBytes = n
	return func() { gobChunkBytes = old }
}
