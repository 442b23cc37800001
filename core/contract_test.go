package core

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestValidateRules(t *testing.T) {
	key := NewCacheKey("n", "c", nil)
	good := Entry{Key: key, DataVersion: "v", Format: "gob"}
	invalid := map[string]error{
		"entry without node":    Batch{Entries: []Entry{{DataVersion: "v", Format: "gob"}}}.Validate(),
		"entry without version": Batch{Entries: []Entry{{Key: key, Format: "gob"}}}.Validate(),
		"entry without format":  Batch{Entries: []Entry{{Key: key, DataVersion: "v"}}}.Validate(),
		"empty hit":             Batch{Hits: []KeyID{""}}.Validate(),
		"records without run":   Batch{Records: []NodeRecord{{Node: "n"}}}.Validate(),
		"record without node":   Batch{Run: "r", Records: []NodeRecord{{}}}.Validate(),
		"record of other key":   Batch{Run: "r", Records: []NodeRecord{{Node: "m", Key: key}}}.Validate(),
		"record behavior":       Batch{Run: "r", Records: []NodeRecord{{Node: "n", Behavior: Ignore + 1}}}.Validate(),
		"short key id":          KeyID("abc").Validate(),
		"upper key id":          KeyID(strings.Repeat("A", 64)).Validate(),
		"empty run id":          RunID("").Validate(),
		"run id not UTF-8":      RunID("\xff").Validate(),
		"empty version":         ResultID{Format: "gob"}.Validate(),
		"empty format":          ResultID{Version: "v"}.Validate(),
		"dot in version":        ResultID{Version: "a.b", Format: "gob"}.Validate(),
		"slash in format":       ResultID{Version: "v", Format: "a/b"}.Validate(),
		"tmp format":            ResultID{Version: "v", Format: "gob.tmp"}.Validate(),
		"control character":     ResultID{Version: "v\n", Format: "gob"}.Validate(),
		"long version":          ResultID{Version: DataVersion(strings.Repeat("a", MaxResultIDPart+1)), Format: "gob"}.Validate(),
	}
	for name, err := range invalid {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want an error wrapping ErrInvalid", name, err)
		}
	}
	valid := map[string]error{
		"batch":     Batch{Run: "r", Entries: []Entry{good}, Hits: []KeyID{key.ID()}, Records: []NodeRecord{{Node: "n", Key: key}, {Node: "i"}}}.Validate(),
		"key id":    key.ID().Validate(),
		"run id":    NewRunID().Validate(),
		"result id": ResultID{Version: NewUniqueVersion(), Format: "json+zstd"}.Validate(),
	}
	for name, err := range valid {
		if err != nil {
			t.Errorf("%s: %v, want nil", name, err)
		}
	}
}

func TestTimeRules(t *testing.T) {
	clock := func() time.Time { return time.Unix(5, 0) }
	now := time.Unix(1, 7).In(time.UTC)
	if got := (Batch{Now: now}).Time(clock); got != time.Unix(1, 7) {
		t.Errorf("Batch.Time = %v, want the batch's Now as stored", got)
	}
	if got := (Batch{}).Time(clock); !got.Equal(time.Unix(5, 0)) {
		t.Errorf("Batch.Time of a zero Now = %v, want the clock's", got)
	}
	created, used := Entry{LastUsed: time.Unix(3, 0)}.TimesAt(time.Unix(2, 0))
	if !created.Equal(time.Unix(2, 0)) || !used.Equal(time.Unix(3, 0)) {
		t.Errorf("TimesAt = %v, %v; want 2s, 3s", created, used)
	}
	if got := (RunInfo{}).StartTime(clock); !got.Equal(time.Unix(5, 0)) {
		t.Errorf("StartTime = %v, want the clock's", got)
	}
	if k := (NodeRecord{Node: "n"}).StoredKey(); k.Node != "" {
		t.Errorf("StoredKey of a zero key = %+v, want zero", k)
	}
	if k := (NodeRecord{Node: "n", Key: CacheKey{CodeVersion: "c"}}).StoredKey(); k.Node != "n" {
		t.Errorf("StoredKey = %+v, want the record's node", k)
	}
}
