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
