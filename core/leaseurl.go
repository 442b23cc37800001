package core

import (
	"fmt"
	"net/url"
	"time"
)

// LeaseTTLParam is the query parameter of a store URL (or FLOWCACHE_URL)
// that turns single-flight on for whoever opens the cache by that URL: the
// lease time to live, a Go duration.
//
//	s3://bucket/cache?region=eu-west-1&lease_ttl=30s
//
// OpenURL takes it out before the backend checks its parameters and puts
// its value in Stores.LeaseTTL; an executor passes that to WithLeases (the
// driver does, unless its build sets driver.CacheLeases, which wins), and
// tools that only read a cache (package inspect, the flowcache command)
// accept it and ignore it. "0s" turns leases off; a value that is not a
// duration, or is negative, is an error wrapping ErrInvalid that names the
// parameter and its value. Any store scheme accepts it.
const LeaseTTLParam = "lease_ttl"

// takeLeaseTTL parses and removes LeaseTTLParam from q; s names the URL in
// the error.
func takeLeaseTTL(q url.Values, s *StoreURL) (time.Duration, error) {
	if !q.Has(LeaseTTLParam) {
		return 0, nil
	}
	raw := q.Get(LeaseTTLParam)
	q.Del(LeaseTTLParam)
	ttl, err := time.ParseDuration(raw)
	if err != nil || ttl < 0 {
		return 0, fmt.Errorf("flowcache: %w: URL parameter %s=%q in store URL %s: want a duration that is not negative, like 30s", ErrInvalid, LeaseTTLParam, raw, s)
	}
	return ttl, nil
}
