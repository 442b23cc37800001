package core

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CodeManifestNode is the node name of the entries that map a code version
// to its manifest (see CodeManifest). Names starting with "@" are reserved
// for the cache's own entries (see ReservedName); an executor must not give
// them to nodes or inputs.
const CodeManifestNode = "@code"

// CodeManifestFormat is the format name of stored manifests: plain JSON.
const CodeManifestFormat = "json"

// maxManifestSize bounds what ReadCodeManifest reads: a manifest lists the
// declarations a code version covers, a few hundred bytes each; a node
// reaching every declaration of a large module stays far below it.
const maxManifestSize = 16 << 20

// ReservedName reports whether name is reserved for the cache's own
// entries: it starts with "@". Executors refuse such names for nodes and
// inputs.
func ReservedName(name string) bool { return strings.HasPrefix(name, "@") }

// IsCodeManifestKey reports whether k maps a code version to its manifest
// (see CodeManifestKey), rather than a node's inputs to its result.
func IsCodeManifestKey(k CacheKey) bool { return k.Node == CodeManifestNode }

// CodeManifestKey returns the cache key under which the manifest of code
// version v is mapped: node CodeManifestNode, code version v, no
// dependencies.
func CodeManifestKey(v CodeVersion) CacheKey { return CacheKey{Node: CodeManifestNode, CodeVersion: v} }

// CodeManifest describes what a node's code version covers, so that a tool
// can name what changed between two versions (package inspect, `flowcache
// why`). It is stored like a result, content-addressed (the manifests a run
// describes together in one result), and mapped from
// CodeManifestKey(version) by an ordinary entry: every store keeps it, and
// eviction treats it as an entry (see package inspect).
//
// The code version of a node is made, by the executor, of its function's
// version (the parts), the structure of its result type, and the
// fingerprints of the state it declares, or of an explicit version instead
// of the function's.
type CodeManifest struct {
	// Func is the runtime name of the node's function.
	Func string `json:"func,omitempty"`
	// FuncVersion is the function's code version (package codeversion),
	// before the result type and the state are mixed in.
	FuncVersion string `json:"func_version,omitempty"`
	// Parts are what FuncVersion covers, the function itself first (see
	// codeversion.Explain). Empty when PartsError says why.
	Parts []CodePart `json:"parts,omitempty"`
	// PartsError says why there are no parts: the version came from the
	// build rather than the source, or the source changed since.
	PartsError string `json:"parts_error,omitempty"`
	// ResultType is the Go type of the node's result, and
	// ResultTypeSignature its structure, as the code version covers it.
	ResultType          string `json:"result_type,omitempty"`
	ResultTypeSignature string `json:"result_type_signature,omitempty"`
	// State is a digest of the fingerprints of the values the node
	// declares as state (driver.WithState), "" when it declares none.
	State string `json:"state,omitempty"`
	// Explicit is the version set on the node (driver.WithCodeVersion),
	// which stands for the function's; "" when the version is derived
	// from the code.
	Explicit string `json:"explicit,omitempty"`
}

// CodePart is one part of a function's code version, as
// codeversion.Explain lists them: a declaration of the module (Kind
// "root func", "func", "method", "const", "var", "type", "init",
// "closure"...), an embedded file, an -ldflags -X value, another module
// (File is its version) or the toolchain.
type CodePart struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	File string `json:"file,omitempty"`
	Hash string `json:"hash"`
}

// manifestContext separates manifest versions from data versions: stored
// manifests never share a result id with a node's result.
const manifestContext = "flowcache-code-manifest-v1\x00"

// manifestBundle is the stored form of manifests: the manifests a run
// described together, by code version, in one result (one write for a run
// that executes a thousand new code versions, not a thousand); an entry
// per version points to it.
type manifestBundle struct {
	Manifests map[CodeVersion]*CodeManifest `json:"manifests"`
}

// encodeManifests returns the stored form of ms and its data version (a
// hash of the bytes).
func encodeManifests(ms map[CodeVersion]*CodeManifest) ([]byte, DataVersion, error) {
	b, err := json.Marshal(manifestBundle{Manifests: ms})
	if err != nil {
		return nil, "", err
	}
	return b, manifestVersion(b), nil
}

func manifestVersion(b []byte) DataVersion {
	h := NewCodeManifestHash()
	h.Write(b)
	return DataVersion(hex.EncodeToString(h.Sum(nil)))
}

// NewCodeManifestHash returns the hash that names a stored bundle of code
// manifests: the hex of its sum over the stored bytes is the bundle's data
// version (the ResultID.Version it is stored under, in the format
// CodeManifestFormat). A checker of results that finds one no entry points
// to (a run that stopped between storing a bundle and writing its
// entries) tells it from a damaged JSON result with it.
func NewCodeManifestHash() hash.Hash {
	h := sha256.New()
	h.Write([]byte(manifestContext))
	return h
}

// ReadCodeManifest returns the manifest stored for code version v. It
// returns an error wrapping ErrNotFound when the cache holds none (a run
// from before manifests existed, or one evicted), and one wrapping
// ErrCorrupt when the stored manifest fails verification: its bytes must
// hash to the entry's data version.
func ReadCodeManifest(ctx context.Context, meta MetadataStore, results ResultStore, v CodeVersion) (*CodeManifest, error) {
	if v == "" {
		return nil, fmt.Errorf("code manifest: empty code version: %w", ErrNotFound)
	}
	e, err := meta.Get(ctx, CodeManifestKey(v).ID())
	if err != nil {
		return nil, fmt.Errorf("code manifest of %s: %w", v.Short(), err)
	}
	if e.Format != CodeManifestFormat || !e.DataVersion.Storable() {
		return nil, fmt.Errorf("code manifest of %s: %w: entry with format %q, version %q", v.Short(), ErrCorrupt, e.Format, e.DataVersion)
	}
	rc, err := results.Get(ctx, ResultID{Version: e.DataVersion, Format: e.Format})
	if err != nil {
		return nil, fmt.Errorf("code manifest of %s: %w", v.Short(), err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("code manifest of %s: %w", v.Short(), err)
	}
	if len(b) > maxManifestSize {
		return nil, fmt.Errorf("code manifest of %s: %w: larger than %d bytes", v.Short(), ErrCorrupt, maxManifestSize)
	}
	if manifestVersion(b) != e.DataVersion {
		return nil, fmt.Errorf("code manifest of %s: %w: its bytes do not hash to %s", v.Short(), ErrCorrupt, e.DataVersion.Short())
	}
	var bundle manifestBundle
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&bundle); err != nil {
		return nil, fmt.Errorf("code manifest of %s: %w: %v", v.Short(), ErrCorrupt, err)
	}
	m := bundle.Manifests[v]
	if m == nil {
		return nil, fmt.Errorf("code manifest of %s: %w: the stored manifests %s do not hold it", v.Short(), ErrCorrupt, e.DataVersion.Short())
	}
	return m, nil
}

// DefaultManifestWait is how long Run.End waits, by default, for one
// description of a code version (NodeSpec.Manifest; see WithManifestWait).
//
// Describing a code version takes microseconds once the module is parsed,
// which it is in every process that computed its versions from source (after
// every edit of the module). A process that read its versions from the
// persisted table (package codeversion) would parse the module on its first
// description: 0.4 s or more for 50,000 lines, on all cores, more than a
// cold run of a thousand trivial nodes takes. With a wait this short, the
// driver does not describe in such a process (its manifests are left out:
// `flowcache why` then says that a code version changed, not what), and a
// description that takes longer all the same is not waited for. Such a
// process reruns code that did not change since the table was written; its
// code versions are usually described in the cache already, and describing
// them is needed only on a new cache.
const DefaultManifestWait = 5 * time.Millisecond

// WithManifestWait sets how long Run.End waits for one description of a
// code version (default DefaultManifestWait): set it to a second or more
// to have every manifest stored even when describing code parses a module
// (the driver then describes in every process). A negative duration stores
// no manifests.
func WithManifestWait(d time.Duration) Option {
	return func(c *Cache) error {
		c.manifestWait = d
		return nil
	}
}

// manifestWriter stores the manifests of the code versions a run executed
// (see NodeSpec.Manifest) from one goroutine, off the nodes' path: an entry
// per version, with the run's metadata. During the run it asks the metadata
// store whether a manifest exists, unless the run's preload found no entry
// of any of its nodes (a new cache, or a new pipeline: then none exists,
// or one written by another pipeline is written again, the same bytes);
// describing a code version waits for Run.End (see DefaultManifestWait),
// unless a description in this Cache already proved cheap.
type manifestWriter struct {
	mu sync.Mutex
	// queue holds the versions to look up; describe those found missing.
	queue, describe []*NodeSpec
	queued          map[CodeVersion]bool
	running         bool
	// idle is closed when the goroutine stops.
	idle chan struct{}
	// ending is set by End: describe now.
	ending bool
	// closed is set once End stops waiting: what the goroutine describes
	// later is dropped.
	closed bool
	// described holds the manifests described and not stored yet (and
	// which node each was described for); undescribed counts the versions
	// of the writer's current round not described yet.
	described   map[CodeVersion]*CodeManifest
	describedBy map[CodeVersion]string
	undescribed int
	// callStart is when the current description started (Unix
	// nanoseconds), 0 between descriptions.
	callStart atomic.Int64
}

// noteManifest queues the manifest of spec's code version, unless the
// Cache knows it is stored. It is called once a node's result is stored.
func (r *Run) noteManifest(ctx context.Context, spec *NodeSpec) {
	if spec.Manifest == nil || spec.CodeVersion == "" || r.c.manifestWait < 0 {
		return
	}
	if _, ok := r.c.manifests.Load(spec.CodeVersion); ok {
		return
	}
	w := &r.mf
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.queued[spec.CodeVersion] {
		return
	}
	if w.queued == nil {
		w.queued = map[CodeVersion]bool{}
	}
	w.queued[spec.CodeVersion] = true
	if r.preloadedNothing() {
		w.describe = append(w.describe, spec)
		if !r.c.manifestsCheap.Load() {
			return // described at End
		}
	} else {
		w.queue = append(w.queue, spec)
	}
	r.startManifests(ctx)
}

// preloadedNothing reports whether the run's first preload of the entries
// of its nodes found none: the run began on a cache without them. (Not the
// current preload: a run longer than preloadFresh preloads again, and then
// finds what it stored itself; each new code version would then cost a
// manifest lookup, two requests on a bucket.)
func (r *Run) preloadedNothing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.preloadedFirst == 1
}

// startManifests starts the goroutine unless it runs; called with r.mf.mu
// held.
func (r *Run) startManifests(ctx context.Context) {
	w := &r.mf
	if w.running {
		return
	}
	w.running = true
	w.idle = make(chan struct{})
	go r.writeManifests(context.WithoutCancel(ctx))
}

// writeManifests looks the queued versions up, and describes and stores
// the missing ones when it may, until there is nothing left it may do.
func (r *Run) writeManifests(ctx context.Context) {
	w := &r.mf
	for {
		w.mu.Lock()
		if w.closed {
			w.stop()
			return
		}
		describeNow := w.ending || r.c.manifestsCheap.Load()
		switch {
		case len(w.queue) > 0:
			spec := w.queue[0]
			w.queue = w.queue[1:]
			w.mu.Unlock()
			if r.manifestStored(ctx, spec) {
				continue
			}
			w.mu.Lock()
			w.describe = append(w.describe, spec)
			w.mu.Unlock()
		case len(w.describe) > 0 && describeNow:
			specs := w.describe
			w.describe = nil
			w.mu.Unlock()
			r.writeManifestBundle(ctx, specs)
		default:
			w.stop()
			return
		}
	}
}

// stop marks the goroutine stopped; called with r.mf.mu held, which it
// releases.
func (w *manifestWriter) stop() {
	w.running = false
	close(w.idle)
	w.mu.Unlock()
}

// manifestStored reports whether the metadata store has the manifest of
// spec's code version (or cannot say: then nothing is written).
func (r *Run) manifestStored(ctx context.Context, spec *NodeSpec) bool {
	_, err := r.c.meta.Get(ctx, CodeManifestKey(spec.CodeVersion).ID())
	switch {
	case err == nil:
		r.c.manifests.Store(spec.CodeVersion, struct{}{})
		return true
	case errors.Is(err, ErrNotFound):
		return false
	}
	r.storeFailed(ctx, faultMeta, ActorMetadataStore, spec.Name, "", MessageCodeManifest, fmt.Errorf("flowcache: looking up the code manifest of node %q: %w", spec.Name, err))
	return true
}

// writeManifestBundle describes the code versions of specs and stores
// their manifests in one result, their entries in the run's next batch.
func (r *Run) writeManifestBundle(ctx context.Context, specs []*NodeSpec) {
	w := &r.mf
	for i, spec := range specs {
		start := time.Now()
		w.callStart.Store(start.UnixNano())
		m := spec.Manifest(r.c.manifestWait)
		w.callStart.Store(0)
		if time.Since(start) < r.c.manifestWait {
			r.c.manifestsCheap.Store(true)
		}
		w.mu.Lock()
		if w.closed {
			// End stopped waiting, and stored what was described before.
			w.mu.Unlock()
			return
		}
		if m != nil {
			if w.described == nil {
				w.described = map[CodeVersion]*CodeManifest{}
				w.describedBy = map[CodeVersion]string{}
			}
			w.described[spec.CodeVersion] = m
			w.describedBy[spec.CodeVersion] = spec.Name
		}
		w.undescribed = len(specs) - i - 1
		w.mu.Unlock()
	}
	r.storeDescribed(ctx)
}

// storeDescribed stores the manifests described and not stored yet, in one
// result, their entries in the run's next batch. A failure is a
// failed_store_write event, never a failure of the run.
func (r *Run) storeDescribed(ctx context.Context) {
	w := &r.mf
	w.mu.Lock()
	ms, by := w.described, w.describedBy
	w.described, w.describedBy = nil, nil
	w.mu.Unlock()
	if len(ms) == 0 {
		return
	}
	b, ver, err := encodeManifests(ms)
	if err == nil {
		rid := ResultID{Version: ver, Format: CodeManifestFormat}
		_, err = r.c.results.Put(ctx, rid, func(w io.Writer) error { _, err := w.Write(b); return err })
	}
	if err != nil {
		r.storeFailed(ctx, faultResultWrite, ActorResultStore, "", "", MessageCodeManifest, fmt.Errorf("flowcache: storing %d code manifests: %w", len(ms), err))
		return
	}
	now := r.c.now()
	r.mu.Lock()
	for v := range ms {
		r.pending.Entries = append(r.pending.Entries, Entry{Key: CodeManifestKey(v), DataVersion: ver, Format: CodeManifestFormat, Created: now, LastUsed: now})
		r.c.manifests.Store(v, struct{}{})
	}
	r.mu.Unlock()
	for v := range ms {
		r.emit(ctx, by[v], "", ActorAdapter, EventCodeVersion, MessageManifest, string(ver))
	}
}

// waitManifests lets the writer describe what it found missing and waits
// until every queued manifest is in the run's batch, except that it does
// not wait for one description longer than the Cache's manifest wait; then
// it stops the writer, stores what was described before, and what the
// writer describes later is dropped.
func (r *Run) waitManifests(ctx context.Context) {
	w := &r.mf
	w.mu.Lock()
	w.ending = true
	if len(w.describe) > 0 {
		r.startManifests(ctx)
	}
	w.mu.Unlock()
	for {
		w.mu.Lock()
		if !w.running {
			w.closed = true
			w.mu.Unlock()
			return
		}
		idle := w.idle
		w.mu.Unlock()
		wait := r.c.manifestWait
		if start := w.callStart.Load(); start != 0 {
			wait -= time.Since(time.Unix(0, start))
		}
		if wait <= 0 {
			w.mu.Lock()
			w.closed = true
			left := len(w.queue) + len(w.describe) + w.undescribed + 1
			w.mu.Unlock()
			r.emit(ctx, "", "", ActorAdapter, EventCodeVersion, MessageManifestsSkipped,
				fmt.Sprintf("%d code versions not described: describing one took over %v (the first description in a process that read its code versions from the persisted table parses the module; see core.WithManifestWait)", left, r.c.manifestWait))
			r.storeDescribed(ctx)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-idle:
		case <-t.C:
		}
		t.Stop()
	}
}
