package core_test

import (
	"errors"
	"reflect"
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
	// Re-encoded without a requested record, the batch is byte for byte
	// what the first encoder wrote.
	if again := core.AppendRecords(nil, got); string(again) != string(old) {
		t.Fatalf("re-encoded\n%q\nwant\n%q", again, old)
	}
}

// TestRecordsRequestedFlag checks the bits a requested record carries: the
// "has a key" bit stays where the first decoders look for it (any non-zero
// value), so they read a newer batch too.
func TestRecordsRequestedFlag(t *testing.T) {
	rec := core.NodeRecord{Node: "n", Key: core.CacheKey{Node: "n", CodeVersion: "c"}, Outcome: core.OutcomeExecuted, Requested: true}
	b := core.AppendRecords(nil, []core.NodeRecord{rec})
	// magic, count 1, node "n", task "": the flags come next.
	if flags := b[len("FCNR\x01")+1+2+1]; flags != 3 {
		t.Fatalf("flags = %d, want 3 (has a key | requested)", flags)
	}
	// Unknown bits (a later flag) are ignored, not an error.
	b[len("FCNR\x01")+1+2+1] = 3 | 4
	got, err := core.DecodeRecords(b)
	if err != nil || len(got) != 1 || !got[0].Requested || got[0].Key.Node != "n" {
		t.Fatalf("with an unknown flag: %+v, %v", got, err)
	}
}
