package core

import (
	"fmt"
	"sort"
	"strings"
)

// Behavior says how the cache treats a node.
type Behavior int

// The behaviours. The zero value, Unset, means "not set here": a node without
// a behaviour of its own gets the build's default behaviour.
const (
	Unset Behavior = iota
	// Default retrieves the node's result when its cache key is stored, and
	// otherwise executes the node and stores the result.
	Default
	// Recompute always executes the node and stores the result; the new
	// mapping replaces the old one, so later runs retrieve the new value.
	Recompute
	// Disable acts as if there were no cache for the node: it is executed,
	// nothing is stored, and its dependants see a new unique data version in
	// every run, so they are executed too.
	Disable
	// Ignore executes the node and stores nothing, but its dependants see a
	// constant data version, so they can still be retrieved. Use it for
	// values that do not change what a dependant computes (a client, a
	// logger) or cannot be stored.
	Ignore
)

var behaviorNames = [...]string{"unset", "default", "recompute", "disable", "ignore"}

// String returns the lowercase name of b.
func (b Behavior) String() string {
	if b >= 0 && int(b) < len(behaviorNames) {
		return behaviorNames[b]
	}
	return fmt.Sprintf("Behavior(%d)", int(b))
}

// ParseBehavior parses the lowercase name of a behaviour.
func ParseBehavior(s string) (Behavior, error) {
	for i, n := range behaviorNames[1:] {
		if strings.EqualFold(s, n) {
			return Behavior(i + 1), nil
		}
	}
	return Unset, fmt.Errorf("%w: unknown behavior %q (want default, recompute, disable or ignore)", ErrInvalid, s)
}

// MarshalText implements encoding.TextMarshaler.
func (b Behavior) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *Behavior) UnmarshalText(p []byte) error {
	if string(p) == "unset" || len(p) == 0 {
		*b = Unset
		return nil
	}
	v, err := ParseBehavior(string(p))
	*b = v
	return err
}

// All is the node list that means "every node" in a BehaviorConfig list.
var All = []string{"*"}

// BehaviorConfig is the build-level behaviour setting: lists of node names per
// behaviour (or All), and the behaviour of the nodes that are in no list and
// have none of their own. The build-level setting wins over a node's own.
type BehaviorConfig struct {
	Default   []string
	Recompute []string
	Disable   []string
	Ignore    []string
	// DefaultBehavior applies to nodes in no list and without a behaviour
	// of their own; Unset means Default.
	DefaultBehavior Behavior
}

// Resolve returns the behaviour of each node. own holds the behaviours set on
// the nodes themselves (Unset when none); names lists every node. A node named
// in two lists, or a list naming an unknown node, is an error naming it.
func (c BehaviorConfig) Resolve(names []string, own map[string]Behavior) (map[string]Behavior, error) {
	known := make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	lists := []struct {
		b     Behavior
		nodes []string
	}{{Default, c.Default}, {Recompute, c.Recompute}, {Disable, c.Disable}, {Ignore, c.Ignore}}

	fromList := map[string]Behavior{}
	var allList Behavior
	for _, l := range lists {
		for _, n := range l.nodes {
			if n == "*" {
				if allList != Unset {
					return nil, fmt.Errorf("%w: behavior lists %s and %s both name all nodes", ErrInvalid, allList, l.b)
				}
				allList = l.b
				continue
			}
			if !known[n] {
				return nil, fmt.Errorf("%w: %s list names unknown node %q", ErrInvalid, l.b, n)
			}
			if prev, ok := fromList[n]; ok {
				return nil, fmt.Errorf("%w: node %q is in both the %s and the %s behavior lists", ErrInvalid, n, prev, l.b)
			}
			fromList[n] = l.b
		}
	}
	if allList != Unset {
		// "all" in one list and a node named in another: the node is in
		// two lists.
		var both []string
		for n, b := range fromList {
			if b != allList {
				both = append(both, n)
			}
		}
		if len(both) > 0 {
			sort.Strings(both)
			return nil, fmt.Errorf("%w: node %q is in the %s list and the %s list names all nodes", ErrInvalid, both[0], fromList[both[0]], allList)
		}
	}
	def := c.DefaultBehavior
	if def == Unset {
		def = Default
	}
	if def < Default || def > Ignore {
		return nil, fmt.Errorf("%w: default behavior %v", ErrInvalid, def)
	}
	out := make(map[string]Behavior, len(names))
	for _, n := range names {
		switch b, ok := fromList[n]; {
		case ok:
			out[n] = b
		case allList != Unset:
			out[n] = allList
		case own[n] != Unset:
			if own[n] < Default || own[n] > Ignore {
				return nil, fmt.Errorf("%w: node %q has behavior %v", ErrInvalid, n, own[n])
			}
			out[n] = own[n]
		default:
			out[n] = def
		}
	}
	return out, nil
}
