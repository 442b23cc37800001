package conformance_test

import (
	"io"
	"os"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/formats"
)

// broken is gob with three faults the suite must catch: Check accepts
// everything, Decode loses the last element of a slice, and Decode panics
// on input shorter than 3 bytes.
type broken struct{}

func (broken) Name() string                    { return "broken" }
func (broken) Check(reflect.Type) error        { return nil }
func (broken) Encode(w io.Writer, v any) error { return formats.Gob().Encode(w, v) }
func (broken) Decode(r io.Reader, t reflect.Type) (any, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	_ = b[2] // panics on short input
	v, err := formats.Gob().Decode(strings.NewReader(string(b)), t)
	if err != nil {
		return nil, err
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.Len() > 0 {
		return rv.Slice(0, rv.Len()-1).Interface(), nil
	}
	return v, nil
}

func TestBrokenFormatHelper(t *testing.T) {
	if os.Getenv("FLOWCACHE_BROKEN_FORMAT") != "1" {
		t.Skip("run by TestSuiteCatchesBrokenFormat")
	}
	conformance.TestFormat(t, conformance.FormatSuite{
		Format:      broken{},
		Supported:   []conformance.FormatCase{{Name: "slice", Value: []int{1, 2, 3}}, {Name: "int", Value: 7}},
		Unsupported: []any{func() {}},
	})
}

// TestSuiteCatchesBrokenFormat runs the suite against a broken format in a
// child process and checks that it fails for each fault.
func TestSuiteCatchesBrokenFormat(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokenFormatHelper$", "-test.v", "-test.short")
	cmd.Env = append(os.Environ(), "FLOWCACHE_BROKEN_FORMAT=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a broken format:\n%s", out)
	}
	for _, want := range []string{
		"--- FAIL: TestBrokenFormatHelper/Check",
		"want an error wrapping core.ErrUnsupportedType",
		"--- FAIL: TestBrokenFormatHelper/RoundTrip/slice",
		"fingerprints differently",
		"--- FAIL: TestBrokenFormatHelper/Corrupt",
		"panicked",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the suite's output lacks %q:\n%s", want, out)
		}
	}
}
