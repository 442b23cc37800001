package core_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
)

func sampleRecords() []core.NodeRecord {
	return []core.NodeRecord{
		{Node: "path", Key: core.CacheKey{Node: "path"}, DataVersion: "aa", Outcome: core.OutcomeInput, Size: -1},
		{Node: "clean", Task: "items[3]", Key: core.NewCacheKey("clean", "c0de", []core.Dep{{Name: "raw", Version: "bb"}, {Name: "items", Version: "cc"}}),
			DataVersion: "dd", Format: "gob", Behavior: core.Recompute, Outcome: core.OutcomeExecuted, Duration: 1500 * time.Microsecond, Size: 1234},
		{Node: "odd ::名前/\"x\"", Behavior: core.Disable, Outcome: core.OutcomeFailed, Duration: -1, Size: -1},
		{Node: "stats", Key: core.NewCacheKey("stats", "c1", []core.Dep{{Name: "clean", Version: "dd"}}), DataVersion: "ee", Format: "json",
			Outcome: core.OutcomeRetrieved, Size: -1, Requested: true},
		{Node: "out_input", Key: core.CacheKey{Node: "out_input"}, DataVersion: "ff", Outcome: core.OutcomeInput, Size: -1, Requested: true},
		{Node: "failed_out", Behavior: core.Disable, Outcome: core.OutcomeFailed, Size: -1, Requested: true},
	}
}

func TestRecordsRoundTrip(t *testing.T) {
	recs := sampleRecords()
	b := core.AppendRecords(nil, recs)
	got, err := core.DecodeRecords(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, recs) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, recs)
	}
	empty, err := core.DecodeRecords(core.AppendRecords(nil, nil))
	if err != nil || len(empty) != 0 {
		t.Fatalf("empty batch: %v, %v", empty, err)
	}
	// Every truncation is an error wrapping ErrCorrupt.
	for i := range len(b) - 1 {
		if _, err := core.DecodeRecords(b[:i]); !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: err = %v", i, err)
		}
	}
	if _, err := core.DecodeRecords(append(b, 0)); !errors.Is(err, core.ErrCorrupt) {
		t.Fatalf("trailing byte: err = %v", err)
	}
}

func FuzzDecodeRecords(f *testing.F) {
	f.Add(core.AppendRecords(nil, sampleRecords()))
	f.Add([]byte("FCNR\x01\xff\xff\xff\xff\x0f"))
	f.Add(core.AppendRecords(nil, []core.NodeRecord{
		{Node: "a", Key: core.NewCacheKey("a", core.CodeVersion(digest("a")), nil), DataVersion: core.DataVersion(digest("va")), Outcome: core.OutcomeExecuted},
		{Node: "b", Key: core.NewCacheKey("b", core.CodeVersion(digest("a")), []core.Dep{{Name: "a", Version: core.DataVersion(digest("va"))}}),
			DataVersion: core.DataVersion(digest("vb")), Outcome: core.OutcomeRetrieved},
	}))
	f.Add(core.AppendRecords(nil, waitedRecords()))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := core.DecodeRecords(b)
		if err != nil {
			if !errors.Is(err, core.ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// What decodes re-encodes to what decodes the same.
		again, err := core.DecodeRecords(core.AppendRecords(nil, recs))
		if err != nil || len(again) != len(recs) || (len(recs) > 0 && !reflect.DeepEqual(again, recs)) {
			t.Fatalf("re-encoded records differ: %v", err)
		}
	})
}

// TestRecordsOldEncoding decodes a batch as the first encoder wrote it (the
// flags field was 0 or 1 then): it reads the same, with no record
// requested.
func TestRecordsOldEncoding(t *testing.T) {
	old := []byte("FCNR\x01\x02" +
		// path: input, key of its name only
		"\x04path\x00\x01\x00\x00\x02aa\x00\x00\x05input\x00\x01" +
		// clean, task items[3]: executed, one dependency
		"\x05clean\x08items[3]\x01\x04c0de\x01\x03raw\x02bb\x02dd\x03gob\x02\x08executed\xb8\x8a\x01\x02")
	got, err := core.DecodeRecords(old)
	if err != nil {
		t.Fatal(err)
	}
	want := []core.NodeRecord{
		{Node: "path", Key: core.CacheKey{Node: "path"}, DataVersion: "aa", Outcome: core.OutcomeInput, Size: -1},
		{Node: "clean", Task: "items[3]", Key: core.CacheKey{Node: "clean", CodeVersion: "c0de", Deps: []core.Dep{{Name: "raw", Version: "bb"}}},
			DataVersion: "dd", Format: "gob", Behavior: core.Recompute, Outcome: core.OutcomeExecuted, Duration: 8860, Size: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded\n%+v\nwant\n%+v", got, want)
	}
	// Re-encoded (in version 2), it reads the same.
	again, err := core.DecodeRecords(core.AppendRecords(nil, got))
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("re-encoded: %+v, %v", again, err)
	}
}

// digest returns a version as the cache makes them: a SHA-256 in hex.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// TestRecordsDigests checks version 2's digests: a chain's records (each
// depends on the data version of the one before) round-trip and take
// about half the bytes of version 1, a digest in upper case or of another
// length stays a string, and damage (a cut, a reference to a digest not
// read) is ErrCorrupt.
func TestRecordsDigests(t *testing.T) {
	var recs []core.NodeRecord
	prev := ""
	v1 := len("FCNR\x01") + 2
	for i := range 1000 {
		name := "node_" + strconv.Itoa(i)
		var deps []core.Dep
		if i > 0 {
			deps = []core.Dep{{Name: "node_" + strconv.Itoa(i-1), Version: core.DataVersion(prev)}}
		}
		dv := digest("value " + name)
		recs = append(recs, core.NodeRecord{Node: name, Key: core.NewCacheKey(name, core.CodeVersion(digest("code "+name)), deps),
			DataVersion: core.DataVersion(dv), Format: "gob", Outcome: core.OutcomeRetrieved, Size: -1})
		prev = dv
		// Version 1's size: every string with its length.
		v1 += 2 + len(name) + 1 + 1 + 1 + 64 + 1 + 1 + 64 + 1 + 3 + 1 + 1 + len(core.OutcomeRetrieved) + 1 + 1
		if i > 0 {
			v1 += 1 + len(deps[0].Name) + 1 + 64
		}
	}
	recs = append(recs, core.NodeRecord{Node: "odd", Key: core.NewCacheKey("odd", core.CodeVersion(strings.ToUpper(digest("x"))),
		[]core.Dep{{Name: "short", Version: "abc"}}), DataVersion: core.DataVersion(digest("x")[:63]), Outcome: core.OutcomeExecuted})
	b := core.AppendRecords(nil, recs)
	got, err := core.DecodeRecords(b)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip: %v", err)
	}
	if per, per1 := float64(len(b))/1000, float64(v1)/1000; per > 0.55*per1 {
		t.Errorf("%.0f bytes a record, version 1 took %.0f: want about half", per, per1)
	} else {
		t.Logf("%.0f bytes a record (version 1: %.0f)", per, per1)
	}
	// AppendRecords grows its buffer once, to about what it writes: the
	// memory a fresh process touches for a batch is what it keeps.
	if c := cap(b); c < len(b) || c > len(b)+len(b)/2 {
		t.Errorf("%d bytes written in a buffer of %d", len(b), c)
	}
	small := core.AppendRecords(nil, recs[:4])
	for i := range len(small) - 1 {
		if _, err := core.DecodeRecords(small[:i]); !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("cut to %d bytes: err = %v", i, err)
		}
	}
	// One record whose code version refers to digest 0, never read.
	bad := []byte("FCNR\x02\x01\x01n\x00\x01\x03\x00\x00\x00\x00\x00\x00\x00")
	if _, err := core.DecodeRecords(bad); !errors.Is(err, core.ErrCorrupt) {
		t.Fatalf("reference to a digest not read: err = %v", err)
	}
	bad[len("FCNR\x02\x01\x01n\x00\x01")] = 0 // an empty string instead
	if got, err := core.DecodeRecords(bad); err != nil || len(got) != 1 || got[0].Key.Node != "n" {
		t.Fatalf("the same record with an empty code version: %+v, %v", got, err)
	}
}

// TestRecordsDigestTable checks the table AppendRecords finds repeated
// digests with: grown past the size it was given (one record of 300
// dependencies, where it is sized for 3 digests a record), with every
// digest in one chain of collisions (the same first 8 bytes), a digest
// written again is still written as a reference to the first, and reads
// back.
func TestRecordsDigestTable(t *testing.T) {
	var deps []core.Dep
	for i := range 300 {
		d := []byte(digest(strconv.Itoa(i)))
		copy(d, "00000000deadbeef")
		deps = append(deps, core.Dep{Name: "d" + strconv.Itoa(i), Version: core.DataVersion(d)})
	}
	recs := []core.NodeRecord{{Node: "a", Key: core.NewCacheKey("a", "", deps), Outcome: core.OutcomeExecuted}}
	one := core.AppendRecords(nil, recs)
	recs = append(recs, core.NodeRecord{Node: "b", Key: core.NewCacheKey("b", "", slices.Clone(deps)), Outcome: core.OutcomeExecuted})
	two := core.AppendRecords(nil, recs)
	got, err := core.DecodeRecords(two)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip: %v", err)
	}
	// The second record: each dependency's name (5 bytes) and a reference
	// (2 bytes), where the digest whole would be 33.
	if extra := len(two) - len(one); extra > 300*8+64 {
		t.Errorf("the second record took %d bytes: its digests were written again", extra)
	}
	// The table is reused by the next batch: the same bytes again.
	if again := core.AppendRecords(nil, recs); !bytes.Equal(again, two) {
		t.Errorf("a second encoding of the same records differs")
	}
}

// TestRecordsRequestedFlag checks the bits a requested record carries: the
// "has a key" bit stays where the first decoders look for it (any non-zero
// value), so they read a newer batch too.
func TestRecordsRequestedFlag(t *testing.T) {
	rec := core.NodeRecord{Node: "n", Key: core.CacheKey{Node: "n", CodeVersion: "c"}, Outcome: core.OutcomeExecuted, Requested: true}
	b := core.AppendRecords(nil, []core.NodeRecord{rec})
	// magic, count 1, node "n", task "": the flags come next.
	if flags := b[len("FCNR\x02")+1+2+1]; flags != 3 {
		t.Fatalf("flags = %d, want 3 (has a key | requested)", flags)
	}
	// Unknown bits (a later flag) are ignored, not an error.
	b[len("FCNR\x02")+1+2+1] = 3 | 4
	got, err := core.DecodeRecords(b)
	if err != nil || len(got) != 1 || !got[0].Requested || got[0].Key.Node != "n" {
		t.Fatalf("with an unknown flag: %+v, %v", got, err)
	}
}

// waitedRecords are sampleRecords with two lease waits: a node retrieved
// after a wait, one executed after taking a dead holder's lease over.
func waitedRecords() []core.NodeRecord {
	recs := sampleRecords()
	recs[3].Wait = core.LeaseWait{For: core.LeaseOwner{Run: "0190f1a2-0000-7000-8000-000000000001", Host: "worker-3", PID: 4242}, Duration: 1234 * time.Millisecond}
	recs[1].Wait = core.LeaseWait{For: core.LeaseOwner{Run: "r2", Host: "ホスト", PID: 1}, Duration: time.Nanosecond}
	return recs
}

// TestRecordsLeaseWait: a batch with lease waits is written as version 3
// and reads back the same (every cut is ErrCorrupt); a batch without is
// still version 2, which readers before version 3 read; a version 2 batch
// with the wait bit set reads as no wait (the bit was unknown there).
func TestRecordsLeaseWait(t *testing.T) {
	recs := waitedRecords()
	b := core.AppendRecords(nil, recs)
	if !strings.HasPrefix(string(b), "FCNR\x03") {
		t.Fatalf("a batch with waits starts %q, want version 3", b[:5])
	}
	got, err := core.DecodeRecords(b)
	if err != nil || !reflect.DeepEqual(got, recs) {
		t.Fatalf("round trip: %v\n%+v\nwant\n%+v", err, got, recs)
	}
	if got[3].Wait.String() != "waited 1.234s for run 0190f1a2-0000-7000-8000-000000000001 on worker-3 pid 4242" {
		t.Errorf("Wait.String() = %q", got[3].Wait.String())
	}
	for i := range len(b) - 1 {
		if _, err := core.DecodeRecords(b[:i]); !errors.Is(err, core.ErrCorrupt) {
			t.Fatalf("cut to %d bytes: err = %v", i, err)
		}
	}
	if b := core.AppendRecords(nil, sampleRecords()); !strings.HasPrefix(string(b), "FCNR\x02") {
		t.Fatalf("a batch without waits starts %q, want version 2", b[:5])
	}
	rec := core.NodeRecord{Node: "n", Key: core.CacheKey{Node: "n", CodeVersion: "c"}, Outcome: core.OutcomeRetrieved}
	v2 := core.AppendRecords(nil, []core.NodeRecord{rec})
	v2[len("FCNR\x02")+1+2+1] |= 4
	if got, err := core.DecodeRecords(v2); err != nil || len(got) != 1 || got[0].Wait.Waited() {
		t.Fatalf("version 2 with the wait bit: %+v, %v", got, err)
	}
}

// BenchmarkAppendRecords encodes the history of a 1000-node chain: every
// record with a code version, its parent's data version and its own.
func BenchmarkAppendRecords(b *testing.B) {
	recs := make([]core.NodeRecord, 1000)
	for i := range recs {
		name := fmt.Sprintf("node_%d", i)
		recs[i] = core.NodeRecord{
			Node: name,
			Key: core.CacheKey{Node: name, CodeVersion: core.CodeVersion(digest(name + " code")),
				Deps: []core.Dep{{Name: fmt.Sprintf("node_%d", i-1), Version: core.DataVersion(digest(fmt.Sprint(i - 1)))}}},
			DataVersion: core.DataVersion(digest(fmt.Sprint(i))),
			Format:      "gob", Outcome: core.OutcomeRetrieved, Size: -1,
		}
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = core.AppendRecords(buf[:0], recs)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(recs)), "ns/record")
}

// TestAppendRecordsStoredKey checks that AppendRecords writes what
// StoredKey keeps, so a store need not copy records to apply it: a key's
// node is not written (it reads back as the record's), and an empty key
// stays empty.
func TestAppendRecordsStoredKey(t *testing.T) {
	recs := []core.NodeRecord{
		{Node: "n", Key: core.CacheKey{Node: "other", CodeVersion: "cv", Deps: []core.Dep{{Name: "x", Version: "v"}}}, DataVersion: "d", Format: "gob", Outcome: core.OutcomeRetrieved, Size: -1},
		{Node: "m", Key: core.CacheKey{Node: "m"}, Outcome: core.OutcomeExecuted, Size: 3},
		{Node: "i", Outcome: core.OutcomeInput, DataVersion: "in", Size: -1},
	}
	stored := make([]core.NodeRecord, len(recs))
	for i, r := range recs {
		r.Key = r.StoredKey()
		stored[i] = r
	}
	if a, b := core.AppendRecords(nil, recs), core.AppendRecords(nil, stored); !bytes.Equal(a, b) {
		t.Fatalf("AppendRecords differs with StoredKey applied:\n%x\n%x", a, b)
	}
	got, err := core.DecodeRecords(core.AppendRecords(nil, recs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		if got[i].Key.Node != stored[i].Key.Node {
			t.Errorf("record %d: key node %q, want %q", i, got[i].Key.Node, stored[i].Key.Node)
		}
	}
}
