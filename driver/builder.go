package driver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/flowcache/flowcache/backends/local"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/codeversion"
	"github.com/flowcache/flowcache/core/fingerprint"
	"github.com/flowcache/flowcache/formats"
)

// DefaultCacheDir is where WithCache keeps the cache when no directory,
// URL or stores are given and $FLOWCACHE_URL is not set (core.DefaultDir).
const DefaultCacheDir = core.DefaultDir

// AllNodes, given to a behaviour list (Recompute, Disable, Ignore,
// DefaultNodes), names every node.
const AllNodes = "*"

// Builder declares a dataflow and how it is cached. Its methods record
// errors, which Build returns.
type Builder struct {
	nodes       []*NodeDef
	parallelism int
	cache       *cacheConfig
	errs        []error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder { return &Builder{} }

// WithNodes adds nodes to the dataflow.
func (b *Builder) WithNodes(nodes ...*NodeDef) *Builder {
	b.nodes = append(b.nodes, nodes...)
	return b
}

// WithParallelism sets how many nodes may execute at once (default
// GOMAXPROCS). 1 runs the nodes one at a time.
func (b *Builder) WithParallelism(n int) *Builder {
	if n < 1 {
		b.errs = append(b.errs, fmt.Errorf("driver: WithParallelism(%d): want at least 1", n))
	}
	b.parallelism = n
	return b
}

type cacheConfig struct {
	url       string
	dir       string
	meta      core.MetadataStore
	results   core.ResultStore
	behaviors core.BehaviorConfig
	logFile   string
	logToFile bool
	logger    *slog.Logger
	format    core.Format
	hasher    core.Hasher
	coreOpts  []core.Option
}

// CacheOption configures the cache of a build.
type CacheOption func(*cacheConfig) error

// CacheDir keeps the cache in dir (default ./.flowcache): metadata and small
// results in SQLite, larger results as files (see package local).
func CacheDir(dir string) CacheOption {
	return func(c *cacheConfig) error {
		if dir == "" {
			return errors.New("CacheDir: empty directory")
		}
		c.dir = dir
		return nil
	}
}

// EnvURL is the environment variable that picks the cache's store when the
// code does not (no CacheDir, CacheURL or CacheStores): core.EnvURL.
const EnvURL = core.EnvURL

// CacheURL keeps the cache in the store the URL names (see core.OpenURL): a
// path (with optional query parameters, "./cache?metadata=…") or
// file:///abs/path for a local directory, mem://name for memory, and the
// schemes of the remote backends that are imported. The flowcache command
// and package inspect pick and read the string the same way
// (core.ResolveCacheURL, core.ParseStoreURL); errors show it redacted
// (core.Redact). CacheURL("") is the default: $FLOWCACHE_URL, else
// DefaultCacheDir.
func CacheURL(rawURL string) CacheOption {
	return func(c *cacheConfig) error {
		c.url = rawURL // "": the builder resolves $FLOWCACHE_URL, else DefaultCacheDir
		return nil
	}
}

// CacheStores uses the given stores instead of a directory. The driver does
// not close them.
func CacheStores(meta core.MetadataStore, results core.ResultStore) CacheOption {
	return func(c *cacheConfig) error {
		if meta == nil || results == nil {
			return errors.New("CacheStores: nil store")
		}
		c.meta, c.results = meta, results
		return nil
	}
}

// DefaultNodes gives the nodes the Default behaviour (useful with
// DefaultBehavior(core.Disable): only these nodes are cached).
func DefaultNodes(nodes ...string) CacheOption { return behaviorList(core.Default, nodes) }

// Recompute gives the nodes the Recompute behaviour.
func Recompute(nodes ...string) CacheOption { return behaviorList(core.Recompute, nodes) }

// Disable gives the nodes the Disable behaviour.
func Disable(nodes ...string) CacheOption { return behaviorList(core.Disable, nodes) }

// Ignore gives the nodes the Ignore behaviour.
func Ignore(nodes ...string) CacheOption { return behaviorList(core.Ignore, nodes) }

func behaviorList(b core.Behavior, nodes []string) CacheOption {
	return func(c *cacheConfig) error {
		p := map[core.Behavior]*[]string{
			core.Default: &c.behaviors.Default, core.Recompute: &c.behaviors.Recompute,
			core.Disable: &c.behaviors.Disable, core.Ignore: &c.behaviors.Ignore,
		}[b]
		*p = append(*p, nodes...)
		return nil
	}
}

// DefaultBehavior sets the behaviour of the nodes that are in no behaviour
// list and have no behaviour of their own (default core.Default).
func DefaultBehavior(b core.Behavior) CacheOption {
	return defaultBehavior("DefaultBehavior", b, func(bc *core.BehaviorConfig) *core.Behavior { return &bc.DefaultBehavior })
}

// defaultBehavior is the option named option: it sets the default
// behaviour that field picks out of the build's behaviour config to b, or
// fails naming the option when b is not a behaviour.
func defaultBehavior(option string, b core.Behavior, field func(*core.BehaviorConfig) *core.Behavior) CacheOption {
	return func(c *cacheConfig) error {
		if b < core.Default || b > core.Ignore {
			return fmt.Errorf("%s(%v): not a behavior", option, b)
		}
		*field(&c.behaviors) = b
		return nil
	}
}

// DefaultLoaderBehavior sets the behaviour of the Loader nodes that are in
// no behaviour list and have no behaviour of their own (default: the
// DefaultBehavior), as Hamilton's default_loader_behavior. The usual one is
// core.Recompute: every run reads the source again, and the loader's
// dependants are retrieved while what it reads is unchanged.
//
// The precedence, Hamilton's, strongest first: a list naming the node
// (Recompute, Disable, Ignore, DefaultNodes), a list naming AllNodes, the
// node's WithBehavior, DefaultLoaderBehavior or DefaultSaverBehavior for a
// Loader or a Saver, DefaultBehavior. An Expand node is executed in every
// run whatever its behaviour.
func DefaultLoaderBehavior(b core.Behavior) CacheOption {
	return defaultBehavior("DefaultLoaderBehavior", b, func(bc *core.BehaviorConfig) *core.Behavior { return &bc.DefaultLoaderBehavior })
}

// DefaultSaverBehavior sets the behaviour of the Saver nodes that are in no
// behaviour list and have no behaviour of their own (default: the
// DefaultBehavior), as Hamilton's default_saver_behavior; see
// DefaultLoaderBehavior for the precedence, and Saver for what each
// behaviour does to a saver.
func DefaultSaverBehavior(b core.Behavior) CacheOption {
	return defaultBehavior("DefaultSaverBehavior", b, func(bc *core.BehaviorConfig) *core.Behavior { return &bc.DefaultSaverBehavior })
}

// LogToFile appends every cache event as a JSON line to path as it happens
// (core.WithLogFile; core.ReadLogFile reads it back). An empty path keeps
// each run's events in the run's own log in the cache's store, whatever the
// backend (core.WithRunLogs): <cache dir>/logs/<run id>.jsonl for a local
// cache, an object per run beside the results in a bucket, memory for
// mem://. Any process can then read a run's log with core.ReadRunLog (or
// Cache.RunLog), long after the run.
func LogToFile(path string) CacheOption {
	return func(c *cacheConfig) error {
		c.logToFile, c.logFile = true, path
		return nil
	}
}

// CacheLogger emits the cache's events to l (see core.WithLogger).
func CacheLogger(l *slog.Logger) CacheOption {
	return func(c *cacheConfig) error {
		c.logger = l
		return nil
	}
}

// DefaultFormat sets the format of nodes without WithFormat (default gob).
func DefaultFormat(f core.Format) CacheOption {
	return func(c *cacheConfig) error {
		if f == nil {
			return errors.New("DefaultFormat: nil format")
		}
		c.format = f
		return nil
	}
}

// CacheHasher sets how data versions are computed, e.g. a
// *fingerprint.Hasher with another MaxDepth.
func CacheHasher(h core.Hasher) CacheOption {
	return func(c *cacheConfig) error {
		c.hasher = h
		return nil
	}
}

// CacheLeases makes every missing cacheable node execute once across the
// processes and machines sharing the cache (single-flight, see
// core.WithLeases): the first run to reach it takes its lease for ttl and
// executes it, the others wait and retrieve its result, and a holder that
// dies keeps them waiting at most ttl. A leased node costs a lease taken
// and released (about 0.4 ms on the local store, two requests on a bucket)
// and its entry written at once: leave cheap nodes out with NoLease. Off
// by default; a cache opened by URL (CacheURL or FLOWCACHE_URL) whose URL
// has lease_ttl=DURATION (core.LeaseTTLParam) takes leases for that long,
// unless CacheLeases is given too: CacheLeases wins, CacheLeases(0) turns
// them off.
func CacheLeases(ttl time.Duration) CacheOption {
	return CacheCoreOptions(core.WithLeases(ttl))
}

// CacheCoreOptions passes options through to core.New.
func CacheCoreOptions(opts ...core.Option) CacheOption {
	return func(c *cacheConfig) error {
		c.coreOpts = append(c.coreOpts, opts...)
		return nil
	}
}

// WithCache turns caching on. Without options the cache lives in the store
// $FLOWCACHE_URL names, else in ./.flowcache (see package local). Calling it twice is an error.
func (b *Builder) WithCache(opts ...CacheOption) *Builder {
	if b.cache != nil {
		b.errs = append(b.errs, errors.New("driver: WithCache called twice"))
		return b
	}
	b.cache = &cacheConfig{}
	for _, o := range opts {
		if err := o(b.cache); err != nil {
			b.errs = append(b.errs, fmt.Errorf("driver: WithCache: %w", err))
		}
	}
	return b
}

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// node is a checked NodeDef.
type node struct {
	def        *NodeDef
	name       string
	fn         reflect.Value
	params     []reflect.Type // one per dependency
	takesCtx   bool
	returnsErr bool
	outType    reflect.Type // the function's result type
	itemType   reflect.Type // Expand: element type of outType
	deps       []string
	code       codeversion.Info
	// funcVersion is the version of the function alone (or the explicit
	// one), before the state is mixed into code.Version; state is a digest
	// of the state's fingerprints ("" without state).
	funcVersion string
	state       string
	spec        core.NodeSpec
	expander    string // the Expand node whose branch this node is in, or ""
	users       []string
}

func (n *node) expand() bool  { return n.def.opts.expand }
func (n *node) collect() bool { return n.def.opts.collect }

// Build checks the dataflow and returns a Driver: every function has the
// right shape, every parameter type fits the node that feeds it, the graph
// is acyclic, fan-outs are well formed, behaviours resolve, and every cached
// node's result type can be stored in its format. Errors name the node and
// the parameter at fault, and wrap core.ErrInvalid (a store that cannot be
// opened is not an error of Build: see openCache).
//
// Build is BuildContext(context.Background()).
func (b *Builder) Build() (*Driver, error) {
	return b.BuildContext(context.Background())
}

// BuildContext is Build with a context for the work Build does on the
// cache's store, which may be remote (a bucket, a document database):
// opening it (core.OpenURL, local.Open) and reading the entries of the
// cacheable nodes ahead of the first run (core.Cache.Prefetch). A ctx that
// is done before BuildContext returns (cancelled, or past its deadline)
// fails it with an error wrapping ctx.Err(), and leaves nothing open; a
// store that cannot be reached in time is thus an error of BuildContext,
// where it is a Driver without a cache for Build (see openCache). Once
// BuildContext returned, ctx only stops the prefetch, and the first run
// reads those entries itself. Checking the graph and computing code
// versions are local work that ctx does not interrupt.
//
// Once the entries are read, the cache keys of the first run are worked
// out from them on another goroutine (core.Prefetch.LookAhead), those of
// nodes that take inputs once the run is given them; each later run does
// the same from its start (core.Run.LookAhead). The executor then finds
// most of a warm run's keys and hits ready.
func (b *Builder) BuildContext(ctx context.Context) (*Driver, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("driver: build: %w", err)
	}
	if len(b.errs) > 0 {
		return nil, invalid(errors.Join(b.errs...))
	}
	d := &Driver{nodes: map[string]*node{}, parallelism: b.parallelism}
	if d.parallelism == 0 {
		d.parallelism = runtime.GOMAXPROCS(0)
	}
	var errs []error
	for _, def := range b.nodes {
		if def == nil {
			errs = append(errs, errors.New("driver: nil node"))
			continue
		}
		if def.err != nil {
			errs = append(errs, def.err)
			continue
		}
		if def.name == "" || strings.ContainsAny(def.name, "\x00") {
			errs = append(errs, fmt.Errorf("driver: node name %q is empty or has a NUL byte", def.name))
			continue
		}
		// A name that is not valid UTF-8 does not survive the stores' text
		// encodings: its entries would be stored and never found again.
		if !utf8.ValidString(def.name) {
			errs = append(errs, fmt.Errorf("driver: node name %q is not valid UTF-8", def.name))
			continue
		}
		if i := slices.IndexFunc(def.deps, func(d string) bool { return !utf8.ValidString(d) }); i >= 0 {
			errs = append(errs, fmt.Errorf("driver: node %q: dependency name %q is not valid UTF-8", def.name, def.deps[i]))
			continue
		}
		if core.ReservedName(def.name) {
			errs = append(errs, fmt.Errorf("driver: node %q: names starting with \"@\" are reserved for the cache's own entries (%s maps code versions to their manifests)", def.name, core.CodeManifestNode))
			continue
		}
		if i := slices.IndexFunc(def.deps, core.ReservedName); i >= 0 {
			errs = append(errs, fmt.Errorf("driver: node %q: dependency %q: names starting with \"@\" are reserved for the cache's own entries (%s maps code versions to their manifests)", def.name, def.deps[i], core.CodeManifestNode))
			continue
		}
		if _, dup := d.nodes[def.name]; dup {
			errs = append(errs, fmt.Errorf("driver: node %q declared twice", def.name))
			continue
		}
		n, err := checkFunc(def)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d.nodes[def.name] = n
		d.order = append(d.order, def.name)
	}
	if len(errs) > 0 {
		return nil, invalid(errors.Join(errs...))
	}
	if err := d.checkGraph(); err != nil {
		return nil, invalid(err)
	}
	d.prepare()
	if err := d.setupCache(ctx, b.cache); err != nil {
		return nil, err
	}
	return d, nil
}

func checkFunc(def *NodeDef) (*node, error) {
	n := &node{def: def, name: def.name, deps: def.deps}
	if def.fn == nil {
		return nil, fmt.Errorf("driver: node %q: function is nil", def.name)
	}
	fv := reflect.ValueOf(def.fn)
	ft := fv.Type()
	if ft.Kind() != reflect.Func {
		return nil, fmt.Errorf("driver: node %q: %T is not a function", def.name, def.fn)
	}
	if fv.IsNil() {
		return nil, fmt.Errorf("driver: node %q: function is nil", def.name)
	}
	if ft.IsVariadic() {
		return nil, fmt.Errorf("driver: node %q: variadic functions are not supported", def.name)
	}
	n.fn = fv
	in := 0
	if ft.NumIn() > 0 && ft.In(0) == contextType {
		n.takesCtx = true
		in = 1
	}
	if got := ft.NumIn() - in; got != len(def.deps) {
		return nil, fmt.Errorf("driver: node %q: function %v has %d parameters (besides a context) but %d dependencies are named (%s)",
			def.name, ft, got, len(def.deps), strings.Join(def.deps, ", "))
	}
	for i := in; i < ft.NumIn(); i++ {
		n.params = append(n.params, ft.In(i))
	}
	seen := map[string]bool{}
	for _, dep := range def.deps {
		if seen[dep] {
			return nil, fmt.Errorf("driver: node %q: dependency %q named twice", def.name, dep)
		}
		seen[dep] = true
		if dep == def.name {
			return nil, fmt.Errorf("driver: node %q depends on itself", def.name)
		}
	}
	switch {
	case ft.NumOut() == 1 && ft.Out(0) != errorType:
	case ft.NumOut() == 2 && ft.Out(1) == errorType:
		n.returnsErr = true
	default:
		return nil, fmt.Errorf("driver: node %q: function %v must return one value, or a value and an error", def.name, ft)
	}
	n.outType = ft.Out(0)
	if def.opts.expand {
		if n.outType.Kind() != reflect.Slice {
			return nil, fmt.Errorf("driver: node %q: an Expand node must return a slice, not %v", def.name, n.outType)
		}
		n.itemType = n.outType.Elem()
	}
	if def.opts.expand && def.opts.collect {
		return nil, fmt.Errorf("driver: node %q: Expand and Collect on one node", def.name)
	}
	if def.opts.loader && def.opts.saver {
		return nil, fmt.Errorf("driver: node %q: Loader and Saver on one node: a loader reads external data and a saver writes it; make two nodes", def.name)
	}
	return n, nil
}

// computeCodeVersions sets the code version of every node, on all cores: a
// version costs about 2 µs of scanning source, which for a thousand nodes is
// a large part of a warm run. Each node is then finished by finish (its
// spec's version and format check), on the same worker, so that this work
// too runs while the store opens rather than after it.
func (d *Driver) computeCodeVersions(hasher core.Hasher, finish func(w *versionWriter, i int) error) []error {
	workers := min(runtime.GOMAXPROCS(0), len(d.order))
	errs := make([]error, len(d.order))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var w versionWriter
			w.grow(len(d.order)/workers + 1)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(d.order) {
					return
				}
				if errs[i] = d.nodes[d.order[i]].computeCodeVersion(hasher); errs[i] == nil {
					errs[i] = finish(&w, i)
				}
			}
		})
	}
	wg.Wait()
	// The next process with the same source and build reads the versions
	// instead of parsing the module.
	codeversion.Save()
	// The code manifests need to know (see parsedModules).
	if codeversion.Parsed() {
		parsedModules.Store(true)
	}
	var out []error
	for _, err := range errs {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// computeCodeVersion sets the node's code version: the explicit one, or the
// one of its function's source and what it reaches; then the fingerprints
// of its declared state are mixed in.
func (n *node) computeCodeVersion(h core.Hasher) error {
	opts := &n.def.opts
	if v := opts.codeVersion; v != "" {
		n.code = codeversion.Info{Version: v, Func: runtime.FuncForPC(n.fn.Pointer()).Name(), FromSource: true}
	} else {
		info, err := codeversion.Of(n.def.fn)
		if err != nil {
			return fmt.Errorf("driver: node %q: code version: %w", n.name, err)
		}
		n.code = info
		if !opts.stateSet {
			if len(info.Captured) > 0 {
				return fmt.Errorf("driver: node %q: its function (%s, %s:%d) is a closure that captures %s from the function around it: "+
					"captured values are state, not code, and its code version cannot cover them; pass them as inputs, "+
					"declare them with driver.WithState(%s), or set driver.WithCodeVersion",
					n.name, info.Func, filepath.Base(info.File), info.Line, strings.Join(info.Captured, ", "), strings.Join(info.Captured, ", "))
			}
			if info.MayCapture {
				return fmt.Errorf("driver: node %q: its function %s is a closure, and its code version comes from the build, not its source (%s): "+
					"what it captures from the function around it cannot be seen, and a change of it would be a stale hit; "+
					"declare the captured values with driver.WithState(...) (driver.WithState() if it captures nothing), "+
					"set driver.WithCodeVersion, or give the binary its source or a code version table (flowcache codeversions)",
					n.name, info.Func, info.Fallback)
			}
			if info.Receiver != "" {
				return fmt.Errorf("driver: node %q: its function %s is a method value bound to a receiver of type %s: "+
					"the receiver is state, not code, and its code version cannot cover it; declare it with driver.WithState(receiver), "+
					"use the method expression with the receiver as an input, or set driver.WithCodeVersion",
					n.name, strings.TrimSuffix(info.Func, "-fm"), info.Receiver)
			}
		}
	}
	n.funcVersion = n.code.Version
	if !opts.stateSet || len(opts.state) == 0 {
		return nil
	}
	sumOf := fingerprint.Of
	if h != nil {
		sumOf = h.Sum
	}
	sum := sha256.New()
	sum.Write([]byte("flowcache-node-state-v1\x00"))
	sum.Write([]byte(n.code.Version))
	// The state alone, for the node's code manifest: `flowcache why` tells
	// a change of state from a change of code.
	state := sha256.New()
	for i, v := range opts.state {
		fp, err := sumOf(v)
		if err != nil {
			return fmt.Errorf("driver: node %q: WithState value %d (%T) cannot be fingerprinted: %w", n.name, i+1, v, err)
		}
		sum.Write([]byte{0})
		sum.Write(fp[:])
		state.Write(fp[:])
	}
	n.code.Version = hex.EncodeToString(sum.Sum(nil))
	n.state = hex.EncodeToString(state.Sum(nil))
	return nil
}

// valueType returns the type of the values a dependent receives from n.
func (n *node) valueType() reflect.Type {
	if n.expand() {
		return n.itemType
	}
	return n.outType
}

func (d *Driver) checkGraph() error {
	// Users, and types of edges between nodes.
	for _, name := range d.order {
		n := d.nodes[name]
		for _, dep := range n.deps {
			if m, ok := d.nodes[dep]; ok {
				m.users = append(m.users, name)
			}
		}
	}
	// Acyclic: depth-first search with colours; the error names the cycle.
	const (
		white = iota
		grey
		black
	)
	colour := map[string]int{}
	var stack []string
	var visit func(string) error
	visit = func(name string) error {
		colour[name] = grey
		stack = append(stack, name)
		for _, dep := range d.nodes[name].deps {
			if _, ok := d.nodes[dep]; !ok {
				continue
			}
			switch colour[dep] {
			case grey:
				i := slices.Index(stack, dep)
				cycle := append(append([]string{}, stack[i:]...), dep)
				return fmt.Errorf("driver: the graph has a cycle: %s", strings.Join(cycle, " -> "))
			case white:
				if err := visit(dep); err != nil {
					return err
				}
			}
		}
		stack = stack[:len(stack)-1]
		colour[name] = black
		d.topo = append(d.topo, name)
		return nil
	}
	for _, name := range d.order {
		if colour[name] == white {
			if err := visit(name); err != nil {
				return err
			}
		}
	}
	// Fan-out branches, in topological order: a node is in the branch of
	// expander E if it depends on E, or on a node in E's branch, and is not
	// a Collect node.
	for _, name := range d.topo {
		n := d.nodes[name]
		for i, dep := range n.deps {
			m, ok := d.nodes[dep]
			if !ok {
				continue
			}
			var from string // the branch this edge carries
			switch {
			case m.expand():
				from = m.name
			case m.expander != "":
				from = m.expander
			}
			if n.collect() && from != "" {
				if m.expand() {
					return fmt.Errorf("driver: node %q: Collect node depends directly on Expand node %q; collect a node of its branch", name, dep)
				}
				want := reflect.SliceOf(m.valueType())
				if !want.AssignableTo(n.params[i]) {
					return fmt.Errorf("driver: node %q: parameter %d (%v) collects %q, so it must be %v", name, i+1, n.params[i], dep, want)
				}
				continue
			}
			if from != "" {
				if n.expand() {
					return fmt.Errorf("driver: node %q: Expand inside the branch of %q: nested fan-outs are not supported", name, from)
				}
				if n.expander != "" && n.expander != from {
					return fmt.Errorf("driver: node %q depends on the branches of both %q and %q", name, n.expander, from)
				}
				n.expander = from
			}
			if !m.valueType().AssignableTo(n.params[i]) {
				return fmt.Errorf("driver: node %q: parameter %d has type %v, but dependency %q gives %v", name, i+1, n.params[i], dep, m.valueType())
			}
		}
		if n.collect() {
			branches := 0
			for _, dep := range n.deps {
				if m, ok := d.nodes[dep]; ok && m.expander != "" {
					branches++
				}
			}
			if branches != 1 {
				return fmt.Errorf("driver: Collect node %q must depend on exactly one node inside a fan-out branch, found %d", name, branches)
			}
		}
	}
	return nil
}

// resolveBehaviors returns the behaviour of each node, in d.order, as
// core.BehaviorConfig.ResolveRoles gives it. Most nodes of a large graph
// are in no list and have neither a behaviour nor a role of their own:
// all of those resolve alike (the precedence reaches the list naming all
// nodes or the build's default), so only one of them is passed, beside
// the nodes a list names and those with a behaviour or a role (for a
// thousand plain nodes, building the maps ResolveRoles takes and returns
// cost a warm build about 0.8 ms). Its errors are the ones the whole
// graph gives: a list naming a node that is not in the graph still names
// a node it does not know, and the nodes it checks keep their order.
func (d *Driver) resolveBehaviors(c core.BehaviorConfig) ([]core.Behavior, error) {
	listed := map[string]bool{}
	for _, l := range [][]string{c.Default, c.Recompute, c.Disable, c.Ignore} {
		for _, name := range l {
			listed[name] = true
		}
	}
	var names []string
	var own map[string]core.Behavior
	var roles map[string]core.Role
	plain := "" // the first node in no list, of no behaviour and no role
	for _, name := range d.order {
		opts := &d.nodes[name].def.opts
		b, r := opts.behavior, opts.role()
		switch {
		case b != core.Unset:
			if own == nil {
				own = map[string]core.Behavior{}
			}
			own[name] = b
		case r != core.NoRole:
		case listed[name]:
		case plain == "":
			plain = name
		default:
			continue
		}
		if r != core.NoRole {
			if roles == nil {
				roles = map[string]core.Role{}
			}
			roles[name] = r
		}
		names = append(names, name)
	}
	resolved, err := c.ResolveRoles(names, own, roles)
	if err != nil {
		return nil, err
	}
	out := make([]core.Behavior, len(d.order))
	for i, name := range d.order {
		b, ok := resolved[name]
		if !ok {
			b = resolved[plain]
		}
		out[i] = b
	}
	return out, nil
}

func (d *Driver) setupCache(ctx context.Context, cfg *cacheConfig) error {
	behaviors := make([]core.Behavior, len(d.order)) // Unset without a cache
	if cfg != nil {
		var err error
		if behaviors, err = d.resolveBehaviors(cfg.behaviors); err != nil {
			return invalid(named(err))
		}
	}
	format := formats.Gob()
	if cfg != nil && cfg.format != nil {
		format = cfg.format
	}
	spec := func(i int) *core.NodeSpec {
		name := d.order[i]
		n := d.nodes[name]
		f := n.def.opts.format
		if f == nil {
			f = format
		}
		n.spec = core.NodeSpec{Name: name, Behavior: behaviors[i], Format: f, Type: n.outType, Manifest: n.manifest, NoLease: n.def.opts.noLease}
		return &n.spec
	}
	if cfg == nil {
		for i := range d.order {
			spec(i) // no cache: no code versions
		}
		return nil
	}
	// finish completes a node's spec once its code version is known: the
	// version of the node (its function's and its result type's), and
	// whether its format can store its results.
	finish := func(w *versionWriter, i int) error {
		sp := spec(i)
		n := d.nodes[d.order[i]]
		sp.CodeVersion = core.CodeVersion(w.nodeCodeVersion(n.code.Version, n.outType))
		if n.expand() {
			return nil
		}
		if b := behaviors[i]; b == core.Default || b == core.Recompute {
			if err := sp.Format.Check(n.outType); err != nil {
				return fmt.Errorf("driver: node %q: result type %v cannot be stored in format %s: %w", sp.Name, n.outType, sp.Format.Name(), err)
			}
		}
		return nil
	}
	// The code versions are computed while the store opens and the entries
	// of the cacheable nodes are read (the first Execute uses them if they
	// are fresh).
	var errs []error // the versions' errors, set before versioned is closed
	versioned := make(chan struct{})
	go func() { errs = d.computeCodeVersions(cfg.hasher, finish); close(versioned) }()
	if err := d.openCache(ctx, cfg); err != nil {
		<-versioned
		return err
	}
	names := make([]string, 0, len(d.order))
	for i, name := range d.order {
		if b := behaviors[i]; (b == core.Default || b == core.Unset) && !d.nodes[name].expand() {
			names = append(names, name)
		}
	}
	pf := d.cache.Prefetch(ctx, names)
	// The first run's keys are worked out from the entries read as soon as
	// the code versions are known (the nodes' specs are complete then),
	// while the build returns and the run gets ready (see
	// core.Prefetch.LookAhead).
	pf.LookAhead(func() []core.Ahead {
		if <-versioned; len(errs) > 0 {
			return nil
		}
		return d.aheadList(nil, nil)
	})
	d.prefetch.Store(pf)
	<-versioned
	if err := ctx.Err(); err != nil {
		d.Close()
		return fmt.Errorf("driver: build: %w", err)
	}
	if len(errs) > 0 {
		d.Close()
		return invalid(errors.Join(errs...))
	}
	return nil
}

// invalidError is a caller's error (a node, an option, an input or an
// output that is wrong): its text is err's, and it wraps both err and
// core.ErrInvalid.
type invalidError struct{ err error }

func (e *invalidError) Error() string   { return e.err.Error() }
func (e *invalidError) Unwrap() []error { return []error{e.err, core.ErrInvalid} }

// invalid marks err as the caller's (core.ErrInvalid), keeping its text.
func invalid(err error) error {
	if err == nil || errors.Is(err, core.ErrInvalid) {
		return err
	}
	return &invalidError{err}
}

// stopped is the error of an opening that ctx stopped: err, wrapping
// ctx.Err() too.
func stopped(ctx context.Context, err error) error {
	if errors.Is(err, ctx.Err()) {
		return named(err)
	}
	return named(fmt.Errorf("%w: %w", err, ctx.Err()))
}

// named returns err prefixed with the package, "driver: ", unless it
// names its package already: an error of package core begins with
// "flowcache: " (no "driver: flowcache: cache: closed").
func named(err error) error {
	if msg := err.Error(); strings.HasPrefix(msg, "flowcache: ") || strings.HasPrefix(msg, "driver: ") {
		return err
	}
	return fmt.Errorf("driver: %w", err)
}

// openCache opens the stores and the cache of a build.
//
// A store that cannot be opened (a full disk, a directory that cannot be
// created, a bucket that cannot be reached) does not fail the build: the
// cache stands on core.Unavailable stores, so every run executes all its
// nodes, stores nothing and says why once at WARN. Build a new Driver to
// try the store again. A URL or option that is wrong (core.ErrInvalid: an
// unknown scheme or parameter) is the caller's error and fails the build,
// and so does ctx done while the store opens (the error wraps ctx.Err()).
func (d *Driver) openCache(ctx context.Context, cfg *cacheConfig) error {
	meta, results := cfg.meta, cfg.results
	var urlOpts []core.Option
	switch {
	case meta != nil:
		// CacheStores.
	case cfg.dir == "":
		// CacheURL, else $FLOWCACHE_URL, else ./.flowcache, as package
		// inspect and the flowcache command pick it.
		st, err := core.OpenURL(ctx, core.ResolveCacheURL(cfg.url, os.Getenv))
		switch {
		case errors.Is(err, core.ErrInvalid):
			return named(err)
		case err != nil && ctx.Err() != nil:
			return stopped(ctx, err) // OpenURL's error names the URL
		case err != nil:
			st = core.Unavailable(named(err))
		}
		if st.Close != nil {
			d.closers = append(d.closers, st.Close)
		}
		meta, results = st.Metadata, st.Results
		if st.LeaseTTL > 0 {
			// The URL's lease_ttl; CacheLeases, applied after it, wins.
			urlOpts = append(urlOpts, core.WithLeases(st.LeaseTTL))
		}
	default:
		// CacheDir: a directory, not a URL (it may hold a '?').
		dir := cfg.dir
		st, err := local.Open(ctx, dir)
		switch {
		case errors.Is(err, core.ErrInvalid):
			return fmt.Errorf("driver: opening cache %s: %w", core.Redact(dir), err)
		case err != nil && ctx.Err() != nil:
			return stopped(ctx, fmt.Errorf("opening cache %s: %w", core.Redact(dir), err))
		case err != nil:
			u := core.Unavailable(fmt.Errorf("driver: opening cache %s: %w", core.Redact(dir), err))
			meta, results = u.Metadata, u.Results
		default:
			d.closers = append(d.closers, st.Close)
			meta, results = st.Metadata(), st.Results()
		}
	}
	opts := append(urlOpts, cfg.coreOpts...)
	if cfg.logger != nil {
		opts = append(opts, core.WithLogger(cfg.logger))
	}
	if cfg.hasher != nil {
		opts = append(opts, core.WithHasher(cfg.hasher))
	}
	if cfg.logToFile {
		if cfg.logFile == "" {
			if core.LogStoreOf(meta, results) == nil {
				d.Close()
				return fmt.Errorf("driver: LogToFile(\"\"): %w (%T, %T); give a path", core.ErrNoLogs, meta, results)
			}
			opts = append(opts, core.WithRunLogs())
		} else {
			opts = append(opts, core.WithLogFile(cfg.logFile))
		}
	}
	c, err := core.New(meta, results, opts...)
	if err != nil {
		d.Close()
		return named(err)
	}
	d.cache = c
	return nil
}
