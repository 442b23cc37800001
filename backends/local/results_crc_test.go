package local

import (
	"hash/crc32"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// TestInlineCRC checks inlineCRC against the checksum of the bytes it
// covers, written out (version, a zero byte, format, a zero byte, data),
// for ids short and long (past the 128 bytes the old code kept on the
// stack), and that it allocates nothing.
func TestInlineCRC(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a' + byte(i%26)
	}
	for _, c := range []struct {
		id   core.ResultID
		data []byte
	}{
		{core.ResultID{Version: "v1", Format: "gob"}, []byte{3, 4, 0, 44}},
		{core.ResultID{Version: "", Format: ""}, nil},
		{core.ResultID{Version: core.DataVersion(long), Format: "json+zstd"}, long},
	} {
		whole := append(append(append(append([]byte(c.id.Version), 0), c.id.Format...), 0), c.data...)
		if got, want := inlineCRC(c.id, c.data), crc32.Checksum(whole, castagnoli); got != want {
			t.Errorf("inlineCRC(%.20q…, %q) = %#x, want %#x", c.id.Version, c.id.Format, got, want)
		}
	}
	// The id and the data are not the same bytes moved: a row moved under
	// another id must not check.
	a := inlineCRC(core.ResultID{Version: "ab", Format: "c"}, []byte("d"))
	b := inlineCRC(core.ResultID{Version: "a", Format: "bc"}, []byte("d"))
	if a == b {
		t.Error("ids ab/c and a/bc have the same checksum")
	}
	id, data := core.ResultID{Version: core.DataVersion(long[:64]), Format: "gob"}, []byte{1, 2, 3}
	if n := testing.AllocsPerRun(100, func() { inlineCRC(id, data) }); n != 0 {
		t.Errorf("inlineCRC allocates %v times", n)
	}
}
