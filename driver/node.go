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

// WithBehavior sets the node's cache behaviour. A behaviour set for the
// whole build (in WithCache) wins over it.
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
