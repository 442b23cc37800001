package core_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
)

// Hamilton's precedence (_resolve_node_behavior): a list naming the node,
// then a list naming all nodes, then the node's own behaviour, then the
// role's default (which falls back to the build's default), then the
// build's default.
func TestResolveRolesPrecedence(t *testing.T) {
	// l*: loaders, s*: savers, n: an ordinary node.
	names := []string{"l_plain", "l_own", "l_listed", "s_plain", "s_own", "n"}
	own := map[string]core.Behavior{"l_own": core.Ignore, "s_own": core.Default}
	roles := map[string]core.Role{"l_plain": core.RoleLoader, "l_own": core.RoleLoader, "l_listed": core.RoleLoader,
		"s_plain": core.RoleSaver, "s_own": core.RoleSaver}
	cases := []struct {
		name string
		cfg  core.BehaviorConfig
		want string // behaviours of names, in order
	}{
		{"nothing set", core.BehaviorConfig{},
			"default ignore default default default default"},
		{"role defaults", core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute, DefaultSaverBehavior: core.Disable},
			"recompute ignore recompute disable default default"},
		{"role defaults fall back to the build default", core.BehaviorConfig{DefaultBehavior: core.Disable},
			"disable ignore disable disable default disable"},
		{"role default beats the build default", core.BehaviorConfig{DefaultBehavior: core.Disable, DefaultLoaderBehavior: core.Recompute},
			"recompute ignore recompute disable default disable"},
		{"list beats role default", core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute, Default: []string{"l_listed"}},
			"recompute ignore default default default default"},
		{"list beats own", core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute, Disable: []string{"l_own"}},
			"recompute disable recompute default default default"},
		{"all beats own and role default", core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute, Ignore: core.All},
			"ignore ignore ignore ignore ignore ignore"},
		{"all beats the saver default", core.BehaviorConfig{Default: core.All, DefaultSaverBehavior: core.Recompute},
			"default default default default default default"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cfg.ResolveRoles(names, own, roles)
			if err != nil {
				t.Fatal(err)
			}
			var gotS []string
			for _, n := range names {
				gotS = append(gotS, got[n].String())
			}
			if g := strings.Join(gotS, " "); g != c.want {
				t.Errorf("behaviours of %v\n got %s\nwant %s", names, g, c.want)
			}
		})
	}
	// Resolve is ResolveRoles without roles: the role defaults do not apply.
	got, err := core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute}.Resolve(names, own)
	if err != nil || got["l_plain"] != core.Default {
		t.Errorf("Resolve: l_plain = %v, %v; want default", got["l_plain"], err)
	}
}

func TestResolveRolesErrors(t *testing.T) {
	names := []string{"a", "b"}
	cases := []struct {
		name  string
		cfg   core.BehaviorConfig
		roles map[string]core.Role
		want  string
	}{
		{"bad loader default", core.BehaviorConfig{DefaultLoaderBehavior: core.Behavior(9)}, nil, "default loader behavior"},
		{"bad saver default", core.BehaviorConfig{DefaultSaverBehavior: core.Behavior(-1)}, nil, "default saver behavior"},
		{"bad role", core.BehaviorConfig{}, map[string]core.Role{"b": core.Role(7)}, `node "b" has role Role(7)`},
		{"unknown node", core.BehaviorConfig{}, map[string]core.Role{"zz": core.RoleSaver}, `saver role given to unknown node "zz"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.cfg.ResolveRoles(names, nil, c.roles)
			if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, core.ErrInvalid) {
				t.Fatalf("err = %v, want core.ErrInvalid containing %q", err, c.want)
			}
		})
	}
}

func TestRoleText(t *testing.T) {
	for r, text := range map[core.Role]string{core.NoRole: "none", core.RoleLoader: "loader", core.RoleSaver: "saver"} {
		p, err := r.MarshalText()
		if err != nil || string(p) != text {
			t.Fatalf("%d: MarshalText = %q, %v; want %q", int(r), p, err, text)
		}
		var back core.Role = 99
		if err := back.UnmarshalText(p); err != nil || back != r {
			t.Errorf("%v: round trip through %q = %v, %v", r, p, back, err)
		}
	}
	var r core.Role = core.RoleSaver
	if err := r.UnmarshalText(nil); err != nil || r != core.NoRole {
		t.Errorf(`UnmarshalText("") = %v, %v; want none`, r, err)
	}
	if err := r.UnmarshalText([]byte("writer")); err == nil || !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), "writer") {
		t.Errorf("UnmarshalText(writer) = %v", err)
	}
}

// A loader with Recompute reads its source in every run; the rest keeps the
// build's default. Hamilton: Builder().with_cache(default_loader_behavior="recompute").
func ExampleBehaviorConfig_ResolveRoles() {
	cfg := core.BehaviorConfig{DefaultLoaderBehavior: core.Recompute, DefaultSaverBehavior: core.Disable}
	b, err := cfg.ResolveRoles([]string{"load", "clean", "save"}, nil,
		map[string]core.Role{"load": core.RoleLoader, "save": core.RoleSaver})
	if err != nil {
		panic(err)
	}
	fmt.Println(b["load"], b["clean"], b["save"])
	// Output: recompute default disable
}
