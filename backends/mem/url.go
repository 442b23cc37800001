package mem

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"

	"github.com/flowcache/flowcache/core"
)

// URL form: mem://name. Every open of the same name in one process gets
// handles on the same stores (so two drivers of a test can share a cache);
// closing them closes the handles, not the stores, which live until the
// process ends. mem:// takes no query parameters.
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
	// The stores are shared: each open gets its own handles, so that
	// closing one opener's stores leaves them open for the others.
	meta, results := &metadataHandle{s: st.Metadata()}, &resultHandle{s: st.Results()}
	return &core.Stores{Metadata: meta, Results: results, Close: func() error {
		return errors.Join(meta.Close(), results.Close())
	}}, nil
}
