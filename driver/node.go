package driver

import (
	"fmt"

	"github.com/flowcache/flowcache/core"
)

// NodeDef declares one node of a dataflow: a name, a Go function, the names
// of its dependencies and its options. Make one with Node.
type NodeDef struct {
	name string
	fn   any
	deps []string
	opts nodeOptions
	err  error
}

type nodeOptions struct {
	behavior    core.Behavior
	codeVersion string
	state       []any
	stateSet    bool
	format      core.Format
	expand      bool
	collect     bool
	loader      bool
	saver       bool
	noLease     bool
}

// NodeOption sets an option of a node.
type NodeOption interface {
	applyNode(*nodeOptions)
}

type nodeOptionFunc func(*nodeOptions)

func (f nodeOptionFunc) applyNode(o *nodeOptions) { f(o) }

// Node declares a node named name computed by fn. The remaining arguments are
// the names of fn's dependencies (strings, one per parameter of fn, in
// order; each is another node or an input given to Execute) and NodeOptions,
// in any order.
//
// fn is any Go function. It may take a context.Context as its first
// parameter (not counted as a dependency) and may return an error as its
// last result; it must return one value. Build checks every parameter type
// against the dependency that feeds it.
func Node(name string, fn any, depsAndOptions ...any) *NodeDef {
	n := &NodeDef{name: name, fn: fn}
	for i, a := range depsAndOptions {
		switch a := a.(type) {
		case string:
			n.deps = append(n.deps, a)
		case NodeOption:
			a.applyNode(&n.opts)
		default:
			if n.err == nil {
				n.err = fmt.Errorf("node %q: argument %d of Node is a %T; want a dependency name (string) or a NodeOption", name, i+3, a)
			}
		}
	}
	return n
}

// Name returns the node's name.
func (n *NodeDef) Name() string { return n.name }

// WithBehavior sets the node's cache behaviour. A build-level list that
// names the node (Recompute, Disable, Ignore, DefaultNodes in WithCache, or
// AllNodes) wins over it; it wins over the build's defaults
// (DefaultBehavior, DefaultLoaderBehavior, DefaultSaverBehavior).
func WithBehavior(b core.Behavior) NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.behavior = b })
}

// WithCodeVersion sets the node's code version explicitly, instead of the
// one derived from its function's source and everything the function
// reaches (see package codeversion). Change it to invalidate the node's
// cached results. With an explicit version, edits of the code are not
// detected: it is the caller's promise.
func WithCodeVersion(v string) NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.codeVersion = v })
}

// WithState declares the values a node's function holds at run time: the
// variables a closure captures from the function around it, or the
// receiver a method value is bound to. Source code cannot version them, so
// they are fingerprinted like data and mixed into the node's code version:
// a change of any of them is a miss.
//
//	scale := 2.5
//	driver.Node("scaled", func(x float64) float64 { return x * scale }, "x", driver.WithState(scale))
//	driver.Node("model", m.Predict, "features", driver.WithState(m)) // m's fields are versioned
//
// Build refuses a closure that captures variables, and a method value,
// unless the node has WithState or WithCodeVersion, and names what is
// captured. Pass the values themselves, in any order; a value that cannot
// be fingerprinted (a func, a channel) is an error naming the node.
// WithState() with no values says the function holds no state that changes
// its result (a captured logger, say).
func WithState(values ...any) NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) {
		o.state = append(o.state, values...)
		o.stateSet = true
	})
}

// NoLease leaves the node out of single-flight (CacheLeases): on a miss it
// executes without taking a lease, so a cheap node pays no round trip, and
// several processes reaching it at once may each execute it.
func NoLease() NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.noLease = true })
}

// WithFormat sets the format the node's results are stored in (the build's
// default format otherwise, gob unless set).
func WithFormat(f core.Format) NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.format = f })
}

// Expand marks a fan-out node: its function returns a slice, and every node
// that depends on it (directly or through other such nodes) up to a Collect
// node runs once per item, as a task with its own task id. Like Hamilton's
// Parallelizable, an expanding node is executed in every run; the branch
// nodes are cached per item.
func Expand() NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.expand = true })
}

// Collect marks a fan-in node: its parameter fed by a branch node (a node
// downstream of an Expand node) receives a slice of that node's results, one
// per item, in item order.
func Collect() NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.collect = true })
}

// Loader marks a node that reads data from outside the dataflow (a file, a
// table, an API), as Hamilton's @dataloader and from_ materializers: its
// behaviour, unless a build-level list or WithBehavior sets one, is
// DefaultLoaderBehavior's (DefaultBehavior's when that is not set).
//
// The usual setting is DefaultLoaderBehavior(core.Recompute): a loader reads
// its source in every run, since the cache cannot see the source change;
// its result is fingerprinted, and when it has the data version of the last
// run its dependants are retrieved, not executed. A loader is a node like
// any other otherwise: an override stands in for it (it is not executed),
// and it may be in a fan-out branch (one read per item) or expand (an
// expanding node is executed in every run whatever its behaviour). Inputs
// have no role: they are values, never executed.
func Loader() NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.loader = true })
}

// Saver marks a node that writes a value out of the dataflow (a file, a
// table), as Hamilton's @datasaver and to. materializers: its behaviour,
// unless a build-level list or WithBehavior sets one, is
// DefaultSaverBehavior's (DefaultBehavior's when that is not set). A node
// cannot be both a Loader and a Saver (Build says which).
//
// A Go function returns one value; a saver returns what it wrote (a path, a
// row count, a checksum). Unlike Hamilton, which gives a saver's metadata a
// constant data version, flowcache versions and stores that value like any
// other, so return nothing that changes from run to run (a timestamp) if a
// node depends on it. With the Default behaviour a saver whose code and
// inputs did not change is retrieved: the value is not written again (the
// cache cannot see a file deleted behind its back). With Recompute it
// writes in every run and its result is stored; with Disable or Ignore it
// writes in every run and nothing is stored (its dependants execute again
// with Disable, and can be retrieved with Ignore).
func Saver() NodeOption {
	return nodeOptionFunc(func(o *nodeOptions) { o.saver = true })
}

// role returns the node's role.
func (o *nodeOptions) role() core.Role {
	switch {
	case o.loader:
		return core.RoleLoader
	case o.saver:
		return core.RoleSaver
	}
	return core.NoRole
}
