package formats

// SetGobChunkBytes sets the size gob chunks aim at, for tests of many
// chunks on small values; the returned func restores it.
func SetGobChunkBytes(n int64) (restore func()) {
	old := gobChunkBytes
	gobChunkBytes = n
	return func() { gobChunkBytes = old }
}

// SetGobRawPortable makes raw slices go through the portable conversion
// (a big-endian machine's, or a 32-bit int's) instead of copying memory;
// the returned func restores it.
func SetGobRawPortable() (restore func()) {
	old := gobRawNative
	gobRawNative = false
	return func() { gobRawNative = old }
}
