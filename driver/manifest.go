package driver

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/core/codeversion"
)

// explanations holds, per function and code version, the parts
// codeversion.Explain gave: Explain parses the module when the versions
// came from the persisted table, so it is asked at most once per process.
var explanations sync.Map // func name + "\x00" + version -> *explanation

type explanation struct {
	once  sync.Once
	parts []core.CodePart
	err   error
}

// explain returns the parts of fn's code version (info is its Info).
func explain(fn any, info codeversion.Info) ([]core.CodePart, error) {
	v, _ := explanations.LoadOrStore(info.Func+"\x00"+info.Version, &explanation{})
	x := v.(*explanation)
	x.once.Do(func() {
		ps, err := codeversion.Explain(fn)
		if err != nil {
			x.err = err
			return
		}
		x.parts = make([]core.CodePart, len(ps))
		for i, p := range ps {
			x.parts[i] = core.CodePart{Kind: p.Kind, Name: p.Name, File: p.File, Hash: p.Hash}
		}
	})
	return x.parts, x.err
}

// parseWait is the wait (core.WithManifestWait) from which a node is
// described even in a process that did not parse its module: describing
// then parses it (0.4 s or more for 50,000 lines).
const parseWait = time.Second

// manifest describes the node's key code version (core.NodeSpec.Manifest):
// the parts of its function's version, its result type and whether state
// or an explicit version is mixed in. The cache calls it only on a miss of
// a code version it holds no manifest for. It returns nil when the parts
// would cost a parse of the module (see parsedModules) that the cache does
// not wait for.
func (n *node) manifest(wait time.Duration) *core.CodeManifest {
	m := &core.CodeManifest{
		Func:                n.code.Func,
		FuncVersion:         n.funcVersion,
		ResultType:          n.outType.String(),
		ResultTypeSignature: typeSignature(n.outType),
		State:               n.state,
	}
	switch {
	case n.def.opts.codeVersion != "":
		m.Explicit = n.def.opts.codeVersion
	case !n.code.FromSource:
		m.PartsError = "the code version comes from the build, not the source: " + n.code.Fallback
	case n.code.FromTable:
		m.PartsError = "the code version comes from the build-time table of the executable: its parts are not recorded there"
	case wait < parseWait && !parsedModules.Load():
		return nil
	default:
		info := n.code
		info.Version = n.funcVersion
		parts, err := explain(n.def.fn, info)
		if err != nil {
			m.PartsError = err.Error()
		}
		m.Parts = parts
	}
	return m
}

// parsedModules is set once this process parsed the module of a node's
// function while versioning it: codeversion.Explain is then cheap. A
// process whose versions all came from the table an earlier process kept
// would parse the module for Explain (on all cores, 0.4 s or more for a
// large module), which a run does not wait for by default: its nodes are
// not described (see core.DefaultManifestWait).
var parsedModules atomic.Bool
