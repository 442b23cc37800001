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

// StoreURL is what a cache string names, worked out once for every caller
// (the driver, package inspect and the flowcache command open a string the
// same way): a URL "scheme://…", or a plain path — relative or absolute,
// optionally followed by query parameters like a file URL's
// ("./cache?inline_limit=0") — which names a local directory, as
// file:///abs/path does. A string is a URL when it starts with a scheme
// (a letter, then letters, digits, '+', '-' or '.') and "://"; anything else
// is a path, even when a query parameter holds a URL
// ("/tmp/cache?metadata=mongo%3A%2F%2F…"). A plain path may not contain '?'
// except to start its query.
//
// Its String method, and every error it returns, show the URL redacted
// (see Redact).
type StoreURL struct {
	u   *url.URL // plain paths become file URLs
	raw string   // as given: its secrets are taken out of errors
}

// ParseStoreURL works out which store raw names (see StoreURL), without
// opening it. Errors wrap ErrInvalid and never show raw's secrets.
func ParseStoreURL(raw string) (*StoreURL, error) {
	if raw == "" {
		return nil, fmt.Errorf("flowcache: %w: empty store URL", ErrInvalid)
	}
	u, err := parseStoreURL(raw)
	if err != nil {
		return nil, RedactError(err, raw)
	}
	return &StoreURL{u: u, raw: raw}, nil
}

// Scheme returns the URL's scheme, lower case: "file" for a plain path.
func (s *StoreURL) Scheme() string { return s.u.Scheme }

// Dir returns the local directory a plain path or a file:// URL names (an
// absolute path, without the query), and "" for other schemes.
func (s *StoreURL) Dir() string {
	if s.u.Scheme != "file" || (s.u.Host != "" && s.u.Host != "localhost") || s.u.Path == "" {
		return ""
	}
	return filepath.FromSlash(s.u.Path)
}

// String returns the string the StoreURL was parsed from, redacted (see
// Redact): the form to print.
func (s *StoreURL) String() string { return Redact(s.raw) }

// Open opens the stores the URL names. Errors name the URL redacted and
// never hold its secrets: they are taken out of the backend's error text
// too (errors.Is and errors.As still see the backend's errors).
func (s *StoreURL) Open(ctx context.Context) (*Stores, error) {
	st, err := s.open(ctx)
	if err != nil {
		return nil, RedactError(err, s.raw)
	}
	return st, nil
}

// OpenURL opens the stores named by rawURL: ParseStoreURL, then Open. A
// URL without a scheme — a relative or absolute path like ".flowcache" or
// "/var/cache/flow" — is a local directory, the same as file:///abs/path;
// like a file URL it may end in query parameters
// (".flowcache?inline_limit=0"). Other schemes are opened by the backend
// that registered them (mem:// by backends/mem; s3://, gs://, azblob:// by
// the remote backends, when imported).
//
// Errors name the URL redacted (see Redact), never its secrets.
func OpenURL(ctx context.Context, rawURL string) (*Stores, error) {
	s, err := ParseStoreURL(rawURL)
	if err != nil {
		return nil, err
	}
	return s.Open(ctx)
}

func (s *StoreURL) open(ctx context.Context) (*Stores, error) {
	u := s.u
	urlMu.RLock()
	open := urlOpeners[u.Scheme]
	urlMu.RUnlock()
	if open == nil {
		return nil, fmt.Errorf("flowcache: %w: no backend for scheme %q in store URL %s (registered: %s; import the backend package to register it)",
			ErrInvalid, u.Scheme, s, strings.Join(Schemes(), ", "))
	}
	// The metadata parameter is ours, not the backend's: take it out before
	// the backend checks its parameters.
	q := u.Query()
	metaURL, hasMeta := q.Get(MetadataParam), q.Has(MetadataParam)
	if hasMeta {
		if metaURL == "" {
			return nil, fmt.Errorf("flowcache: %w: empty URL parameter %s in store URL %s", ErrInvalid, MetadataParam, s)
		}
		q.Del(MetadataParam)
		c := *u
		c.RawQuery = q.Encode()
		u = &c
	}
	u, tier, err := takeTierParams(u, s)
	if err != nil {
		return nil, err
	}
	st, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("flowcache: opening %s: %w", redactUnknown(s.raw, err), err)
	}
	if st, err = tier.wrap(ctx, st, s); err != nil {
		return nil, err
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

// LocalCacheParam is the query parameter of a store URL that puts a local
// directory in front of the store's results (a tier): a result read from
// the store is kept in the directory, verified, and read from there the
// next time; a result stored goes to the store and to the directory.
// Metadata stays in the store. LocalCacheMaxParam bounds the directory's
// size (least recently used results go first):
//
//	s3://bucket/cache?region=eu-west-1&local_cache=/var/cache/flow&local_cache_max=20GiB
//
// The path may be relative (to the working directory). Any store scheme
// accepts both parameters, once a tier is registered (RegisterTier:
// importing backends/tier does it, and the s3, gcs and azure backends
// import it); the backend never sees them. A bad value is an error wrapping
// ErrInvalid that names the parameter. A directory that cannot be written
// does not fail the open nor any run: the store is used without the tier,
// as the tier's documentation says.
const (
	LocalCacheParam    = "local_cache"
	LocalCacheMaxParam = "local_cache_max"
)

// TierOpener puts the local directory dir in front of remote, the result
// store a store URL opened (see LocalCacheParam). max is the value of
// LocalCacheMaxParam as given ("" when absent: the tier's default); an
// invalid one is an error wrapping ErrInvalid naming the parameter. The
// returned store's Close releases the tier only: remote is closed with the
// rest of the stores the URL opened.
type TierOpener func(ctx context.Context, remote ResultStore, dir, max string) (ResultStore, error)

var tierOpener TierOpener

// RegisterTier makes store URLs accept LocalCacheParam, opening the tier
// with open. backends/tier calls it from init (core does not import
// backends). It panics if a tier is registered twice or open is nil.
func RegisterTier(open TierOpener) {
	if open == nil {
		panic("flowcache: RegisterTier: nil opener")
	}
	urlMu.Lock()
	defer urlMu.Unlock()
	if tierOpener != nil {
		panic("flowcache: RegisterTier: registered twice")
	}
	tierOpener = open
}

// tierParams are the tier parameters of a store URL (see LocalCacheParam).
type tierParams struct {
	dir, max string // dir is "" when the URL asks for no tier
}

// takeTierParams takes the tier parameters out of u, before the backend
// checks its parameters.
func takeTierParams(u *url.URL, s *StoreURL) (*url.URL, tierParams, error) {
	q := u.Query()
	if !q.Has(LocalCacheParam) && !q.Has(LocalCacheMaxParam) {
		return u, tierParams{}, nil
	}
	t := tierParams{dir: q.Get(LocalCacheParam), max: q.Get(LocalCacheMaxParam)}
	switch {
	case !q.Has(LocalCacheParam):
		return nil, t, fmt.Errorf("flowcache: %w: URL parameter %s without %s in store URL %s", ErrInvalid, LocalCacheMaxParam, LocalCacheParam, s)
	case t.dir == "":
		return nil, t, fmt.Errorf("flowcache: %w: empty URL parameter %s in store URL %s (want a directory)", ErrInvalid, LocalCacheParam, s)
	case q.Has(LocalCacheMaxParam) && t.max == "":
		return nil, t, fmt.Errorf("flowcache: %w: empty URL parameter %s in store URL %s (want a size like 10GiB)", ErrInvalid, LocalCacheMaxParam, s)
	}
	urlMu.RLock()
	registered := tierOpener != nil
	urlMu.RUnlock()
	if !registered {
		return nil, t, fmt.Errorf("flowcache: %w: URL parameter %s in store URL %s: no tier registered (import github.com/flowcache/flowcache/backends/tier)", ErrInvalid, LocalCacheParam, s)
	}
	q.Del(LocalCacheParam)
	q.Del(LocalCacheMaxParam)
	c := *u
	c.RawQuery = q.Encode()
	return &c, t, nil
}

// wrap puts the tier in front of st's results; without a tier it returns
// st. On error it closes st.
func (t tierParams) wrap(ctx context.Context, st *Stores, s *StoreURL) (*Stores, error) {
	if t.dir == "" {
		return st, nil
	}
	urlMu.RLock()
	open := tierOpener
	urlMu.RUnlock()
	results, err := open(ctx, st.Results, t.dir, t.max)
	if err != nil {
		if st.Close != nil {
			st.Close()
		}
		return nil, fmt.Errorf("flowcache: opening the local tier of %s: %w", s, err)
	}
	closeStores := st.Close
	return &Stores{Metadata: st.Metadata, Results: results, Close: func() error {
		err := results.Close()
		if closeStores != nil {
			err = errors.Join(err, closeStores())
		}
		return err
	}}, nil
}

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
// (dynamodb://, firestore://, mongo:// by backends/docstore). Errors redact
// secrets as OpenURL's do.
func OpenMetadataURL(ctx context.Context, rawURL string) (MetadataStore, error) {
	m, err := openMetadataURL(ctx, rawURL)
	if err != nil {
		return nil, RedactError(err, rawURL)
	}
	return m, nil
}

func openMetadataURL(ctx context.Context, rawURL string) (MetadataStore, error) {
	if rawURL == "" {
		return nil, fmt.Errorf("flowcache: %w: empty metadata URL", ErrInvalid)
	}
	if schemeLen(rawURL) == 0 {
		return nil, fmt.Errorf("flowcache: %w: metadata URL %s has no scheme (registered: %s)", ErrInvalid, Redact(rawURL), strings.Join(MetadataSchemes(), ", "))
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
			ErrInvalid, u.Scheme, Redact(rawURL), strings.Join(MetadataSchemes(), ", "))
	}
	m, err := open(ctx, u)
	if err != nil {
		return nil, fmt.Errorf("flowcache: opening metadata %s: %w", redactUnknown(rawURL, err), err)
	}
	return m, nil
}

// parseStoreURL parses a store URL; a plain path becomes a file URL. Its
// errors may hold raw's secrets: callers redact them.
func parseStoreURL(raw string) (*url.URL, error) {
	if schemeLen(raw) == 0 {
		// A plain path may carry query parameters like a file URL
		// ("./cache?inline_limit=0"); it may not contain '?' otherwise.
		path, query, _ := strings.Cut(raw, "?")
		if path == "" {
			return nil, fmt.Errorf("flowcache: %w: store path %s: no directory before the query", ErrInvalid, Redact(raw))
		}
		if _, err := url.ParseQuery(query); err != nil {
			return nil, fmt.Errorf("flowcache: %w: store path %s: bad query parameters: %v", ErrInvalid, Redact(raw), err)
		}
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("flowcache: store path %s: %w", Redact(raw), err)
		}
		return &url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: query}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, secrets included: say only what is
		// wrong (RedactError takes out what the rest may still hold, such
		// as part of a password url.Parse took for a port).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		var r redactor
		shown := r.text(raw, 0)
		if r.badPassword {
			// url.Parse quotes the part of the password it took for a
			// port, a host or an escape: say what is wrong without it.
			return nil, fmt.Errorf("flowcache: %w: bad store URL %s: its user info does not parse (a password must have '/', '?', '#', '@' and '%%' %%-escaped; better, leave credentials to the environment)", ErrInvalid, shown)
		}
		return nil, fmt.Errorf("flowcache: %w: bad store URL %s: %v", ErrInvalid, shown, err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	return u, nil
}

// schemeLen returns the length of the "scheme://" that starts s, or 0 when
// s does not start with one (a plain path).
func schemeLen(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			if strings.HasPrefix(s[i:], "://") {
				return i + 3
			}
			return 0
		default:
			return 0
		}
	}
	return 0
}

// CheckQueryParams returns an error naming every query parameter of u that
// is not in known. It wraps ErrInvalid; OpenURL hides the values of the
// parameters it names when it prints the URL (a misspelt "pasword=…" is
// not printed either).
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
	takes := "none"
	if len(known) > 0 {
		takes = strings.Join(known, ", ")
	}
	return &unknownParamsError{names: unknown, scheme: u.Scheme, takes: takes}
}

// unknownParamsError is the error of CheckQueryParams.
type unknownParamsError struct {
	names         []string
	scheme, takes string
}

func (e *unknownParamsError) Error() string {
	return fmt.Sprintf("%v: unknown URL parameter %s (%s:// takes %s)", ErrInvalid, strings.Join(quoteAll(e.names), ", "), e.scheme, e.takes)
}

func (e *unknownParamsError) Unwrap() error { return ErrInvalid }

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}

// redactUnknown returns raw redacted for an opener's error: when err names
// unknown parameters (CheckQueryParams), their values are hidden too.
func redactUnknown(raw string, err error) string {
	r := redactor{}
	var ue *unknownParamsError
	if errors.As(err, &ue) {
		r.hide = ue.names
	}
	return r.text(raw, 0)
}

// secretParamWords: a query parameter (or connection-string key) whose
// lower-cased name contains one of these holds a secret. "pass" covers
// password, passwd and passphrase; "key" access keys, account keys and API
// keys (and, harmlessly, key ids); "sig" signatures (Azure SAS "sig",
// X-Amz-Signature, X-Goog-Signature); "sas" SAS tokens; "token" session,
// access and refresh tokens; "credential" X-Amz-Credential and the like.
var secretParamWords = []string{"pass", "pwd", "secret", "token", "key", "sig", "sas", "credential", "authorization", "cookie"}

// redactedValue replaces each secret.
const redactedValue = "xxxxx"

// maxRedactDepth bounds the nesting of values looked into (a URL in a
// parameter of a URL …, a name=value pair in a value); deeper values are
// hidden whole.
const maxRedactDepth = 6

func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range secretParamWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Redact returns raw — a store URL, a metadata URL, or a plain path with a
// query — as it may be printed. Every URL and path with a query that
// package core, the backends, the driver, package inspect and the
// flowcache command print goes through it (or through RedactURL,
// RedactError, StoreURL.String). It replaces with "xxxxx":
//   - the password of a URL's user info ("s3://user:xxxxx@bucket"; the user
//     name stays);
//   - the value of every query parameter whose name, in any case, contains
//     pass, pwd, secret, token, key, sig, sas, credential, authorization or
//     cookie ("?sig=xxxxx", "X-Amz-Security-Token=xxxxx", "api_key=xxxxx");
//   - the same inside parameter values, recursively: URLs, escaped or not
//     (endpoint=http://user:xxxxx@host, metadata=mongo://user:xxxxx@h/db/c),
//     connection strings ("AccountName=a;AccountKey=xxxxx") and a plain
//     path's query ("/tmp/cache?metadata=…").
//
// It works on the text, not on a parsed URL, so a URL that does not parse
// (a password holding an unescaped '/', '?' or '@', a bad %-escape) is
// redacted too; when in doubt it hides more. Text that holds no secret
// comes back unchanged. (OpenURL also hides the values of the parameters a
// backend does not know, which may be misspelt secrets.)
func Redact(raw string) string {
	var r redactor
	return r.text(raw, 0)
}

// RedactURL returns u as text, redacted as Redact does.
func RedactURL(u *url.URL) string { return Redact(u.String()) }

// RedactError returns err with every secret Redact finds in rawURL taken
// out of its text (in its raw, %-decoded and %-encoded forms), for errors
// whose text may hold what a backend or SDK took from the URL. errors.Is and
// errors.As see err's chain as before. A nil err stays nil, and err itself
// is returned when its text holds none of the secrets.
func RedactError(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	var r redactor
	r.text(rawURL, 0)
	msg := err.Error()
	clean := msg
	for _, s := range r.secretForms() {
		clean = strings.ReplaceAll(clean, s, redactedValue)
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap keeps errors.Is working through the redaction.
func (e *redactedError) Unwrap() error { return e.err }

// redactor redacts text and records the secrets it hid.
type redactor struct {
	hide    []string // parameter names whose values are hidden besides the secret ones
	secrets []string
	// badPassword says the text's own userinfo (not a nested URL's) holds
	// a password url.Parse cannot take: with '/', '?', '#' or '@', or a bad
	// %-escape.
	badPassword bool
}

func (r *redactor) found(s string) {
	if s != "" && s != redactedValue {
		r.secrets = append(r.secrets, s)
	}
}

// secretForms returns the secrets found, each with its %-decoded and
// %-encoded forms, longest first (so that a secret inside another does not
// break the other's replacement).
func (r *redactor) secretForms() []string {
	var out []string
	for _, s := range r.secrets {
		out = append(out, s, url.QueryEscape(s), url.PathEscape(s))
		if d, err := url.QueryUnescape(s); err == nil {
			out = append(out, d)
		}
		if d, err := url.PathUnescape(s); err == nil {
			out = append(out, d)
		}
	}
	out = slices.DeleteFunc(out, func(s string) bool { return s == "" })
	slices.SortFunc(out, func(a, b string) int { return len(b) - len(a) })
	return slices.Compact(out)
}

func (r *redactor) secretName(name string) bool {
	return isSecretParam(name) || slices.Contains(r.hide, name)
}

// text redacts s: a URL, a plain path with a query, or (nested, depth > 0)
// a parameter value: a URL, a path with a query, or a list of name=value
// pairs (a connection string, a query).
func (r *redactor) text(s string, depth int) string {
	if depth > maxRedactDepth {
		r.found(s)
		return redactedValue
	}
	if n := schemeLen(s); n > 0 {
		return s[:n] + r.afterScheme(s[n:], depth)
	}
	if depth > 0 {
		// A value that starts with "name=": name=value pairs.
		if i := strings.IndexByte(s, '='); i > 0 && !strings.ContainsAny(s[:i], "/?") {
			return r.query(s, depth)
		}
	}
	if path, query, ok := strings.Cut(s, "?"); ok {
		return path + "?" + r.query(query, depth)
	}
	return s
}

// afterScheme redacts what follows "scheme://": userinfo, host and path,
// query, fragment.
func (r *redactor) afterScheme(rest string, depth int) string {
	var b strings.Builder
	// The userinfo ends at the last '@' of the authority (before the first
	// '/', '?' or '#'). A password holding an unescaped '/', '?' or '#' ends
	// the authority early: when the authority has a ':' but no '@', the
	// userinfo ends at the last '@' before any '=' (a query parameter's
	// value may hold an '@') and any nested URL.
	auth := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		auth = rest[:i]
	}
	userEnd := strings.LastIndexByte(auth, '@')
	if userEnd < 0 && strings.Contains(auth, ":") {
		limit := rest
		if i := strings.IndexByte(limit, '='); i >= 0 {
			limit = limit[:i]
		}
		if i := strings.Index(limit, "://"); i >= 0 {
			limit = limit[:i]
		}
		userEnd = strings.LastIndexByte(limit, '@')
	}
	if userEnd >= 0 {
		user := rest[:userEnd]
		if name, pw, ok := strings.Cut(user, ":"); ok && pw != "" {
			r.found(pw)
			if _, err := url.PathUnescape(pw); depth == 0 && (err != nil || strings.ContainsAny(pw, "/?#@")) {
				r.badPassword = true
			}
			user = name + ":" + redactedValue
		}
		b.WriteString(user)
		b.WriteByte('@')
		rest = rest[userEnd+1:]
	}
	main, frag, hasFrag := strings.Cut(rest, "#")
	hostPath, query, hasQuery := strings.Cut(main, "?")
	b.WriteString(hostPath)
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(r.query(query, depth))
	}
	if hasFrag {
		b.WriteByte('#')
		b.WriteString(r.query(frag, depth))
	}
	return b.String()
}

// query redacts name=value pairs separated by '&' or ';' (a URL's query, a
// connection string), keeping their order and escaping.
func (r *redactor) query(q string, depth int) string {
	var b strings.Builder
	for q != "" {
		var part string
		if i := strings.IndexAny(q, "&;"); i >= 0 {
			part, q = q[:i+1], q[i+1:]
		} else {
			part, q = q, ""
		}
		sep := ""
		if last := part[len(part)-1]; last == '&' || last == ';' {
			part, sep = part[:len(part)-1], part[len(part)-1:]
		}
		b.WriteString(r.param(part, depth))
		b.WriteString(sep)
	}
	return b.String()
}

// param redacts one name=value pair.
func (r *redactor) param(p string, depth int) string {
	k, v, hasValue := strings.Cut(p, "=")
	if !hasValue {
		// No name: look into the text itself (a stray nested URL).
		return r.value(p, depth)
	}
	if r.secretName(unescape(k)) || r.secretName(strings.TrimSpace(k)) {
		if v == "" {
			return p
		}
		r.found(v)
		return k + "=" + redactedValue
	}
	return k + "=" + r.value(v, depth)
}

// value redacts a parameter value. A query value means its %-decoding with
// '+' for a space (as url.ParseQuery reads it), but a URL put in a query
// unescaped may hold a '+' of its own ("mongodb+srv://"), or a '%' that is
// no escape: each reading is looked into (each records the secrets it
// finds), and the first that hides something gives the result, %-encoded
// again if the value was.
func (r *redactor) value(v string, depth int) string {
	readings := []string{v}
	if d, err := url.QueryUnescape(v); err == nil && d != v {
		readings = append([]string{d}, readings...)
	}
	if d, err := url.PathUnescape(v); err == nil && !slices.Contains(readings, d) {
		readings = append(readings, d)
	}
	out := v
	for _, d := range readings {
		red := r.text(d, depth+1)
		if red == d || out != v {
			continue
		}
		if d == v {
			out = red
		} else {
			out = url.QueryEscape(red)
		}
	}
	return out
}

// unescape decodes a parameter name.
func unescape(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}
