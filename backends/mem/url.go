package mem

import (
	"context"
	"fmt"
	"net/url"
	"sync"

	"github.com/flowcache/flowcache/core"
)

// URL form: mem://name. Every open of the same name in one process gets
// the same stores (so two drivers of a test can share a cache); the stores
// live until the process ends. mem:// takes no query parameters.
func init() { core.RegisterScheme("mem", openURL) }

var (
	namedMu sync.Mutex
	named   = map[string]*Store{}
)

func openURL(_ context.Context, u *url.URL) (*core.Stores, error) {
	if err := core.CheckQueryParams(u); err != nil {
		return nil, err
	}
	name := u.Host + u.Path
	if name == "" {
		return nil, fmt.Errorf("%w: mem URL without a name: want mem://name", core.ErrInvalid)
	}
	namedMu.Lock()
	st := named[name]
	if st == nil {
		st = Open()
		named[name] = st
	}
	namedMu.Unlock()
	// The stores are shared: closing one opener's handle must not close
	// them for the others.
	return &core.Stores{Metadata: st.Metadata(), Results: st.Results(), Close: func() error { return nil }}, nil
}
