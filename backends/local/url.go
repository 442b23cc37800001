package local

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"time"

	"github.com/flowcache/flowcache/core"
)

// URL form: file:///abs/path/to/cache, or a plain path (relative or
// absolute) given to core.OpenURL. Query parameters:
//
//	inline_limit   results up to this many bytes go into metadata.db (default 16384; 0: files only)
//	busy_timeout   how long to wait for another process's write lock (Go duration, default 10s)
//	mode           ro: read-only, never writes (ModeReadOnly); rw: read-write, an error if the
//	               directory cannot be written (ModeReadWrite); default: read-write, or read-only
//	               when the directory cannot be written (ModeAuto)
//
// For example ".flowcache?mode=ro" or "file:///var/cache/flow?mode=ro".
func init() { core.RegisterScheme("file", openURL) }

func openURL(ctx context.Context, u *url.URL) (*core.Stores, error) {
	if err := core.CheckQueryParams(u, "inline_limit", "busy_timeout", "mode"); err != nil {
		return nil, err
	}
	if u.Host != "" && u.Host != "localhost" {
		return nil, fmt.Errorf("%w: file URL with host %q: want file:///absolute/path", core.ErrInvalid, u.Host)
	}
	if u.Path == "" {
		return nil, fmt.Errorf("%w: file URL without a path", core.ErrInvalid)
	}
	var opts []Option
	q := u.Query()
	if v := q.Get("inline_limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%w: URL parameter inline_limit=%q: not an integer", core.ErrInvalid, core.Redact(v))
		}
		opts = append(opts, WithInlineLimit(n))
	}
	if v := q.Get("busy_timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("%w: URL parameter busy_timeout=%q: not a duration like 10s", core.ErrInvalid, core.Redact(v))
		}
		opts = append(opts, WithBusyTimeout(d))
	}
	if q.Has("mode") {
		switch v := q.Get("mode"); v {
		case "ro":
			opts = append(opts, WithMode(ModeReadOnly))
		case "rw":
			opts = append(opts, WithMode(ModeReadWrite))
		default:
			return nil, fmt.Errorf("%w: URL parameter mode=%q: want ro (read-only) or rw (read-write)", core.ErrInvalid, v)
		}
	}
	st, err := Open(ctx, filepath.FromSlash(u.Path), opts...)
	if err != nil {
		return nil, err
	}
	return st.Stores(), nil
}
