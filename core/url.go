package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// Stores is a metadata store and a result store opened together, from a URL
// (see OpenURL).
type Stores struct {
	Metadata MetadataStore
	Results  ResultStore
	// Close releases both stores (nil when there is nothing to release).
	Close func() error
}

// URLOpener opens the stores a URL names. The URL has been parsed and its
// scheme matched; the opener checks the rest and must reject query
// parameters it does not know with an error naming them (see
// CheckQueryParams).
type URLOpener func(ctx context.Context, u *url.URL) (*Stores, error)

var (
	urlMu      sync.RWMutex
	urlOpeners = map[string]URLOpener{}
)

// RegisterScheme makes OpenURL open URLs of scheme with open. Backends call
// it from init, so importing one (`_ "github.com/flowcache/flowcache/backends/mem"`)
// enables its scheme, like database/sql drivers. It panics if the scheme is
// registered twice or open is nil.
func RegisterScheme(scheme string, open URLOpener) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || open == nil {
		panic("flowcache: RegisterScheme: empty scheme or nil opener")
	}
	urlMu.Lock()
	defer urlMu.Unlock()
	if _, dup := urlOpeners[scheme]; dup {
		panic(fmt.Sprintf("flowcache: RegisterScheme: scheme %q registered twice", scheme))
	}
	urlOpeners[scheme] = open
}

// Schemes returns the registered schemes, sorted.
func Schemes() []string {
	urlMu.RLock()
	defer urlMu.RUnlock()
	out := make([]string, 0, len(urlOpeners))
	for s := range urlOpeners {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// OpenURL opens the stores named by rawURL. A URL without a scheme — a
// relative or absolute path like ".flowcache" or "/var/cache/flow" — is a
// local directory, the same as file:///abs/path; like a file URL it may end
// in query parameters (".flowcache?inline_limit=0"), so such a path may not
// contain '?' otherwise. Other schemes are opened
// by the backend that registered them (mem:// by backends/mem; s3://,
// gs://, azblob:// by the remote backends, when imported).
//
// Errors name the URL with its password and secret-looking query
// parameters redacted (see RedactURL), never the secrets themselves.
func OpenURL(ctx context.Context, rawURL string) (*Stores, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("flowcache: %w: empty store URL", ErrInvalid)
	}
	u, err := parseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	urlMu.RLock()
	open := urlOpeners[u.Scheme]
	urlMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("flowcache: %w: no backend for scheme %q in store URL %s (registered: %s; import the backend package to register it)",
			ErrInvalid, u.Scheme, RedactURL(u), strings.Join(Schemes(), ", "))
	}
	// The metadata parameter is ours, not the backend's: take it out before
	// the backend checks its parameters.
	q := u.Query()
	metaURL, hasMeta := q.Get(MetadataParam), q.Has(MetadataParam)
	if hasMeta {
		q.Del(MetadataParam)
		c := *u
		c.RawQuery = q.Encode()
		if metaURL == "" {
			return nil, fmt.Errorf("flowcache: %w: empty URL parameter %s in store URL %s", ErrInvalid, MetadataParam, RedactURL(&c))
		}
		u = &c
	}
	st, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("flowcache: opening %s: %w", RedactURL(u), redactErr(err, u))
	}
	if !hasMeta {
		return st, nil
	}
	meta, err := OpenMetadataURL(ctx, metaURL)
	if err != nil {
		if st.Close != nil {
			st.Close()
		}
		return nil, err
	}
	// The backend's own metadata store is not used; it is released with
	// the rest of the backend by Close (closing it alone could close a
	// store the backend shares, as mem://name does).
	closeStores := st.Close
	return &Stores{Metadata: meta, Results: st.Results, Close: func() error {
		err := meta.Close()
		if closeStores != nil {
			err = errors.Join(err, closeStores())
		}
		return err
	}}, nil
}

// MetadataParam is the query parameter of a store URL that keeps the
// metadata in another store, named by a metadata URL (see
// RegisterMetadataScheme), while results stay in the store the URL names:
//
//	s3://bucket/cache?region=eu-west-1&metadata=dynamodb%3A%2F%2Fflowcache%3Fregion%3Deu-west-1
//
// The metadata URL is query-escaped (url.QueryEscape) inside the store URL.
// Any store scheme accepts it.
const MetadataParam = "metadata"

// MetadataOpener opens a metadata store from a URL whose scheme was
// registered with RegisterMetadataScheme. Like URLOpener, it must reject
// query parameters it does not know.
type MetadataOpener func(ctx context.Context, u *url.URL) (MetadataStore, error)

var metaOpeners = map[string]MetadataOpener{}

// RegisterMetadataScheme makes URLs of scheme usable as the metadata
// parameter of a store URL (see MetadataParam and OpenMetadataURL), for
// backends that keep metadata only, such as document databases. It panics
// if the scheme is registered twice or open is nil.
func RegisterMetadataScheme(scheme string, open MetadataOpener) {
	scheme = strings.ToLower(scheme)
	if scheme == "" || open == nil {
		panic("flowcache: RegisterMetadataScheme: empty scheme or nil opener")
	}
	urlMu.Lock()
	defer urlMu.Unlock()
	if _, dup := metaOpeners[scheme]; dup {
		panic(fmt.Sprintf("flowcache: RegisterMetadataScheme: scheme %q registered twice", scheme))
	}
	metaOpeners[scheme] = open
}

// MetadataSchemes returns the schemes registered with
// RegisterMetadataScheme, sorted.
func MetadataSchemes() []string {
	urlMu.RLock()
	defer urlMu.RUnlock()
	out := make([]string, 0, len(metaOpeners))
	for s := range metaOpeners {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// OpenMetadataURL opens the metadata store named by rawURL, whose scheme a
// metadata-only backend registered with RegisterMetadataScheme
// (dynamodb://, firestore://, mongo:// by backends/docstore). Errors redact secrets as OpenURL's do.
func OpenMetadataURL(ctx context.Context, rawURL string) (MetadataStore, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("flowcache: %w: empty metadata URL", ErrInvalid)
	}
	u, err := parseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	urlMu.RLock()
	open := metaOpeners[u.Scheme]
	urlMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("flowcache: %w: no metadata backend for scheme %q in metadata URL %s (registered: %s; import the backend package to register it)",
			ErrInvalid, u.Scheme, RedactURL(u), strings.Join(MetadataSchemes(), ", "))
	}
	m, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("flowcache: opening metadata %s: %w", RedactURL(u), redactErr(err, u))
	}
	return m, nil
}

// parseStoreURL parses a store URL; a plain path becomes a file URL.
func parseStoreURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		// A plain path may carry query parameters like a file URL
		// ("./cache?inline_limit=0"); it may not contain '?' otherwise.
		path, query, _ := strings.Cut(raw, "?")
		if _, err := url.ParseQuery(query); err != nil {
			return nil, fmt.Errorf("flowcache: %w: store path %q: bad query parameters: %v", ErrInvalid, raw, err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("flowcache: store path %q: %w", raw, err)
		}
		return &url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: query}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, secrets included: say only what is
		// wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("flowcache: %w: bad store URL: %v", ErrInvalid, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

// secretParams are query parameter names whose values RedactURL hides.
var secretParams = []string{"secret", "password", "token", "key", "signature", "sig", "credential"}

func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range secretParams {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

// RedactURL returns u as text with the password and the values of query
// parameters whose names look secret (containing "secret", "password",
// "token", "key", "signature", "sig" or "credential") replaced by "xxxxx".
func RedactURL(u *url.URL) string {
	c := *u
	if _, has := c.User.Password(); has {
		c.User = url.UserPassword(c.User.Username(), "xxxxx")
	}
	q := c.Query()
	changed := false
	for k, vs := range q {
		switch {
		case isSecretParam(k):
			q[k] = []string{"xxxxx"}
			changed = true
		case k == MetadataParam:
			// A nested metadata URL may hold secrets of its own.
			for i, v := range vs {
				if nu, err := url.Parse(v); err == nil {
					vs[i] = RedactURL(nu)
				} else {
					vs[i] = "xxxxx"
				}
			}
			changed = true
		}
	}
	if changed {
		c.RawQuery = q.Encode()
	}
	return c.String()
}

// redactErr removes the secret values of u from an opener's error text.
func redactErr(err error, u *url.URL) error {
	msg := err.Error()
	clean := msg
	for _, s := range urlSecrets(u) {
		clean = strings.ReplaceAll(clean, s, "xxxxx")
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// urlSecrets returns the secret values in u, those of a nested metadata URL
// included.
func urlSecrets(u *url.URL) []string {
	secrets := []string{}
	if p, has := u.User.Password(); has && p != "" {
		secrets = append(secrets, p)
	}
	for k, vs := range u.Query() {
		if isSecretParam(k) {
			for _, v := range vs {
				if v != "" {
					secrets = append(secrets, v)
				}
			}
		}
		if k == MetadataParam {
			for _, v := range vs {
				if nu, err := url.Parse(v); err == nil {
					secrets = append(secrets, urlSecrets(nu)...)
				}
			}
		}
	}
	return secrets
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap keeps errors.Is working through the redaction.
func (e *redactedError) Unwrap() error { return e.err }

// CheckQueryParams returns an error naming every query parameter of u that
// is not in known.
func CheckQueryParams(u *url.URL, known ...string) error {
	var unknown []string
	for k := range u.Query() {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	if len(known) == 0 {
		return fmt.Errorf("%w: unknown URL parameter %s (%s:// takes none)", ErrInvalid, strings.Join(quoteAll(unknown), ", "), u.Scheme)
	}
	return fmt.Errorf("%w: unknown URL parameter %s (%s:// takes %s)", ErrInvalid, strings.Join(quoteAll(unknown), ", "), u.Scheme, strings.Join(known, ", "))
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}
