package driver

import (
	"fmt"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// TestResolveBehaviors checks that resolving a build's behaviours with one
// node standing for all the plain ones gives what core resolves for the
// whole graph: every node's behaviour, and the same error.
func TestResolveBehaviors(t *testing.T) {
	d := &Driver{nodes: map[string]*node{}}
	add := func(name string, o nodeOptions) {
		d.nodes[name] = &node{name: name, def: &NodeDef{name: name, opts: o}}
		d.order = append(d.order, name)
	}
	add("p1", nodeOptions{})
	add("own", nodeOptions{behavior: core.Recompute})
	add("p2", nodeOptions{})
	add("load", nodeOptions{loader: true})
	add("save", nodeOptions{saver: true, behavior: core.Ignore})
	add("p3", nodeOptions{})
	add("zbad", nodeOptions{behavior: core.Behavior(42)})
	noBad := func(d *Driver) *Driver { return &Driver{nodes: d.nodes, order: d.order[:len(d.order)-1]} }
	onlyPlain := &Driver{nodes: d.nodes, order: []string{"p1", "p2", "p3"}}
	errs := 0
	for i, tt := range []struct {
		d *Driver
		c core.BehaviorConfig
	}{
		{noBad(d), core.BehaviorConfig{}},
		{onlyPlain, core.BehaviorConfig{}},
		{onlyPlain, core.BehaviorConfig{DefaultBehavior: core.Disable}},
		{&Driver{nodes: d.nodes}, core.BehaviorConfig{Recompute: []string{AllNodes}}},
		{noBad(d), core.BehaviorConfig{Recompute: []string{"p2", "load"}, DefaultBehavior: core.Ignore}},
		{noBad(d), core.BehaviorConfig{Disable: []string{AllNodes}, DefaultLoaderBehavior: core.Recompute}},
		{noBad(d), core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute, DefaultSaverBehavior: core.Disable}},
		{noBad(d), core.BehaviorConfig{Ignore: []string{"p3"}, Default: []string{"own"}}},
		// Errors.
		{d, core.BehaviorConfig{}},
		{d, core.BehaviorConfig{Ignore: []string{"zbad"}}}, // the list wins: no error
		{noBad(d), core.BehaviorConfig{Recompute: []string{"p1", "nosuch"}}},
		{noBad(d), core.BehaviorConfig{Recompute: []string{"p1"}, Disable: []string{"p1"}}},
		{noBad(d), core.BehaviorConfig{Recompute: []string{AllNodes}, Disable: []string{"p2"}}},
		{noBad(d), core.BehaviorConfig{DefaultBehavior: core.Behavior(9)}},
		{noBad(d), core.BehaviorConfig{DefaultSaverBehavior: core.Behavior(9)}},
		{onlyPlain, core.BehaviorConfig{Disable: []string{"own"}}}, // not in this graph
	} {
		own, roles := map[string]core.Behavior{}, map[string]core.Role{}
		for _, name := range tt.d.order {
			o := &tt.d.nodes[name].def.opts
			own[name] = o.behavior
			if r := o.role(); r != core.NoRole {
				roles[name] = r
			}
		}
		want, wantErr := tt.c.ResolveRoles(tt.d.order, own, roles)
		got, err := tt.d.resolveBehaviors(tt.c)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Errorf("%d: error %v, want %v", i, err, wantErr)
			continue
		}
		if err != nil {
			errs++
			continue
		}
		if len(got) != len(tt.d.order) {
			t.Fatalf("%d: %d behaviours for %d nodes", i, len(got), len(tt.d.order))
		}
		for j, name := range tt.d.order {
			if got[j] != want[name] {
				t.Errorf("%d: node %s: %v, want %v", i, name, got[j], want[name])
			}
		}
	}
	if errs != 7 {
		t.Errorf("%d cases failed, want the 7 errors", errs)
	}
}
