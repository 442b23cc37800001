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

// Role says what a node does besides computing a value, as Hamilton's
// @dataloader and @datasaver (and its from_/to materializers) do: a loader
// reads data from outside the dataflow (a file, a table, an API), a saver
// writes a value out. A role picks the behaviour the node gets when neither
// a build-level list nor the node itself sets one: BehaviorConfig's
// DefaultLoaderBehavior or DefaultSaverBehavior.
type Role int

// The roles. The zero value, NoRole, is an ordinary computation.
const (
	NoRole Role = iota
	// RoleLoader reads external data.
	RoleLoader
	// RoleSaver writes a value out of the dataflow.
	RoleSaver
)

var roleNames = [...]string{"none", "loader", "saver"}

// String returns the lowercase name of r ("none", "loader", "saver").
func (r Role) String() string {
	if r >= 0 && int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Role) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; "" is NoRole.
func (r *Role) UnmarshalText(p []byte) error {
	if len(p) == 0 {
		*r = NoRole
		return nil
	}
	for i, n := range roleNames {
		if strings.EqualFold(string(p), n) {
			*r = Role(i)
			return nil
		}
	}
	return fmt.Errorf("%w: unknown role %q (want none, loader or saver)", ErrInvalid, p)
}

// BehaviorConfig is the build-level behaviour setting: lists of node names per
// behaviour (or All), and the behaviours of the nodes that are in no list and
// have none of their own. The build-level lists win over a node's own
// behaviour; the defaults do not.
//
// The precedence, Hamilton's (HamiltonCacheAdapter._resolve_node_behavior),
// from strongest to weakest:
//
//  1. the list that names the node;
//  2. the list that names All nodes;
//  3. the node's own behaviour (driver.WithBehavior; Hamilton's
//     @cache(behavior=...));
//  4. for a loader, DefaultLoaderBehavior; for a saver,
//     DefaultSaverBehavior; either one, when Unset, is DefaultBehavior;
//  5. DefaultBehavior (Unset means Default).
//
// A fan-out (expanding) node is executed in every run whatever its
// behaviour, before any of these (Hamilton's Parallelizable nodes are
// Recompute); the driver sees to that.
type BehaviorConfig struct {
	Default   []string
	Recompute []string
	Disable   []string
	Ignore    []string
	// DefaultBehavior applies to nodes in no list and without a behaviour
	// of their own; Unset means Default.
	DefaultBehavior Behavior
	// DefaultLoaderBehavior applies to loaders (RoleLoader) in no list and
	// without a behaviour of their own; Unset means DefaultBehavior.
	// Hamilton's typical setting is Recompute: a loader reads its source in
	// every run, and its dependants are still retrieved when what it read
	// has the data version of the last run.
	DefaultLoaderBehavior Behavior
	// DefaultSaverBehavior applies to savers (RoleSaver) in no list and
	// without a behaviour of their own; Unset means DefaultBehavior.
	DefaultSaverBehavior Behavior
}

// Resolve returns the behaviour of each node. own holds the behaviours set on
// the nodes themselves (Unset when none); names lists every node. A node named
// in two lists, or a list naming an unknown node, is an error naming it.
// Resolve is ResolveRoles with no loaders and no savers.
func (c BehaviorConfig) Resolve(names []string, own map[string]Behavior) (map[string]Behavior, error) {
	return c.ResolveRoles(names, own, nil)
}

// ResolveRoles is Resolve for nodes with roles: roles holds the role of each
// loader and saver (NoRole when absent), which picks its default behaviour
// (see BehaviorConfig for the precedence).
func (c BehaviorConfig) ResolveRoles(names []string, own map[string]Behavior, roles map[string]Role) (map[string]Behavior, error) {
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
	roleDefault := map[Role]Behavior{NoRole: def, RoleLoader: c.DefaultLoaderBehavior, RoleSaver: c.DefaultSaverBehavior}
	for _, r := range []Role{RoleLoader, RoleSaver} {
		switch b := roleDefault[r]; {
		case b == Unset:
			roleDefault[r] = def
		case b < Default || b > Ignore:
			return nil, fmt.Errorf("%w: default %s behavior %v", ErrInvalid, r, b)
		}
	}
	withRole := make([]string, 0, len(roles))
	for n := range roles {
		withRole = append(withRole, n)
	}
	sort.Strings(withRole) // the first bad one in name order, every time
	for _, n := range withRole {
		r := roles[n]
		if _, ok := roleDefault[r]; !ok {
			return nil, fmt.Errorf("%w: node %q has role %v", ErrInvalid, n, r)
		}
		if !known[n] {
			return nil, fmt.Errorf("%w: %s role given to unknown node %q", ErrInvalid, r, n)
		}
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
			out[n] = roleDefault[roles[n]]
		}
	}
	return out, nil
}
