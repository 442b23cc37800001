package core_test

import (
	"testing"

	"github.com/flowcache/flowcache/backends/mem"
	"github.com/flowcache/flowcache/core"
)

// forwardMeta is a wrapper that keeps only the base methods, and Unwrap.
type forwardMeta struct{ core.MetadataStore }

func (f forwardMeta) Unwrap() core.MetadataStore { return f.MetadataStore }

// selfWrapper unwraps to itself: As must not loop.
type selfWrapper struct{ core.MetadataStore }

func (s *selfWrapper) Unwrap() core.MetadataStore { return s }

func TestAsFollowsUnwrap(t *testing.T) {
	st := mem.Open()
	defer st.Close()
	bare := st.Metadata()
	wrapped := forwardMeta{forwardMeta{bare}}
	if _, ok := core.MetadataStore(wrapped).(core.EntryWalker); ok {
		t.Fatal("the wrapper itself should not be an EntryWalker")
	}
	w, ok := core.As[core.EntryWalker](wrapped)
	if !ok || w != core.EntryWalker(bare) {
		t.Errorf("As[EntryWalker](wrapped) = %v, %v; want the wrapped store", w, ok)
	}
	if s, ok := core.As[*mem.MetadataStore](wrapped); !ok || s != bare {
		t.Errorf("As[*mem.MetadataStore](wrapped) = %v, %v", s, ok)
	}
	if _, ok := core.As[core.ResultFlusher](wrapped); ok {
		t.Error("As found a capability no store in the chain has")
	}
	if _, ok := core.As[core.EntryWalker](forwardMeta{}); ok {
		t.Error("As found a capability below a nil store")
	}
	if _, ok := core.As[core.EntryWalker](nil); ok {
		t.Error("As found a capability in nil")
	}
	if _, ok := core.As[core.EntryWalker](&selfWrapper{}); ok {
		t.Error("As found a capability in a wrapper of itself")
	}
	if vg, ok := core.As[core.VerifiedGetter](core.CheckResults(st.Results())); !ok || vg != core.VerifiedGetter(st.Results()) {
		t.Errorf("As[VerifiedGetter](CheckResults(results)) = %v, %v; want the result store", vg, ok)
	}
}
