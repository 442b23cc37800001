package fingerprint

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// Fingerprinter is implemented by types that define their own fingerprint.
// Fingerprint feeds the parts of the value that make up its identity to w;
// the result is tagged with the type's identity. It must be deterministic,
// must not retain w, and should return an error (which makes the value
// unhashable) rather than panic. Errors returned by w.Value may be returned
// as they are.
type Fingerprinter interface {
	Fingerprint(w *Writer) error
}

// Registry maps types to fingerprint functions, for types whose definition
// the user does not own. It is safe for concurrent use. The zero value is
// an empty registry ready to use.
type Registry struct {
	mu     sync.RWMutex
	fns    map[reflect.Type]customFunc
	ifaces []ifaceRule
	plans  atomic.Pointer[planCache]
}

// ifaceRule is a function for every concrete type implementing an interface.
type ifaceRule struct {
	iface reflect.Type
	fn    func(w *Writer, v any) error
}

// DefaultRegistry is the registry of Hashers made without WithRegistry,
// and of [Of].
var DefaultRegistry = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

// Register makes r fingerprint values of type T with fn, replacing any
// earlier function for T. T must be a concrete (non-interface) type; values
// of type T are matched exactly, wherever they appear (top level, fields,
// elements, behind pointers and interfaces). Register panics if T is an
// interface type or fn is nil.
//
// Registering after sums were computed is allowed: sums computed afterwards
// use fn.
func Register[T any](r *Registry, fn func(w *Writer, v T) error) {
	t := reflect.TypeFor[T]()
	if t.Kind() == reflect.Interface {
		panic(fmt.Sprintf("fingerprint: Register: %v is an interface type", t))
	}
	if fn == nil {
		panic("fingerprint: Register: nil function")
	}
	cf := func(w *Writer, v reflect.Value) error {
		return fn(w, *(*T)(addrOf(v)))
	}
	r.mu.Lock()
	if r.fns == nil {
		r.fns = make(map[reflect.Type]customFunc)
	}
	r.fns[t] = cf
	r.plans.Store(newPlanCache()) // plans built before may embed the old rule
	r.mu.Unlock()
}

// RegisterInterface makes r fingerprint values of every concrete type that
// implements the interface I with fn, for libraries whose value types are
// unexported (Arrow's records and tables). A function registered for the
// exact concrete type with Register wins; among interfaces, the one
// registered first wins. RegisterInterface panics if I is not an interface
// type or fn is nil.
func RegisterInterface[I any](r *Registry, fn func(w *Writer, v I) error) {
	it := reflect.TypeFor[I]()
	if it.Kind() != reflect.Interface {
		panic(fmt.Sprintf("fingerprint: RegisterInterface: %v is not an interface type", it))
	}
	if fn == nil {
		panic("fingerprint: RegisterInterface: nil function")
	}
	r.mu.Lock()
	r.ifaces = append(r.ifaces, ifaceRule{iface: it, fn: func(w *Writer, v any) error { return fn(w, v.(I)) }})
	r.plans.Store(newPlanCache())
	r.mu.Unlock()
}

// customFunc hashes an addressable value of a custom type into w.
type customFunc func(w *Writer, v reflect.Value) error

// addrOf returns the address of v, which must be addressable; it works on
// values read through unexported fields too.
func addrOf(v reflect.Value) unsafe.Pointer { return unsafe.Pointer(v.UnsafeAddr()) }

// Built-in rules for standard library types whose memory is not their value.
var builtins = map[reflect.Type]customFunc{
	reflect.TypeFor[time.Time](): func(w *Writer, v reflect.Value) error {
		// The instant, and the zone in effect there: its offset and name
		// (what Format, Hour, Date... read). Not the *Location: its name
		// ("Local") says nothing of the zone, and two Locations with one
		// zone at this instant give the same time.
		t := *(*time.Time)(addrOf(v))
		name, offset := t.Zone()
		w.Int(t.Unix())
		w.Int(int64(t.Nanosecond()))
		w.Int(int64(offset))
		w.String(name)
		return nil
	},
	reflect.TypeFor[time.Location](): func(w *Writer, v reflect.Value) error {
		return hashLocation(w, (*time.Location)(addrOf(v)))
	},
	reflect.TypeFor[sync.Mutex]():   func(*Writer, reflect.Value) error { return nil },
	reflect.TypeFor[sync.RWMutex](): func(*Writer, reflect.Value) error { return nil },
}

var fingerprinterType = reflect.TypeFor[Fingerprinter]()

// Where a custom rule comes from; part of the type identity.
const (
	srcRegistry byte = 1 + iota
	srcMethod
	srcBuiltin
)

func hookFunc(t reflect.Type) customFunc {
	return func(w *Writer, v reflect.Value) error {
		fp := reflect.NewAt(t, addrOf(v)).Interface().(Fingerprinter)
		return fp.Fingerprint(w)
	}
}

func (r *Registry) cache() *planCache {
	if c := r.plans.Load(); c != nil {
		return c
	}
	r.plans.CompareAndSwap(nil, newPlanCache())
	return r.plans.Load()
}

// customFor returns the custom rule for t, if any, and where it comes from.
func (r *Registry) customFor(t reflect.Type) (customFunc, byte) {
	r.mu.RLock()
	fn := r.fns[t]
	var rule *ifaceRule
	if fn == nil && t.Kind() != reflect.Interface {
		for i := range r.ifaces {
			if t.Implements(r.ifaces[i].iface) {
				rule = &r.ifaces[i]
				break
			}
		}
	}
	r.mu.RUnlock()
	if fn != nil {
		return fn, srcRegistry
	}
	if rule != nil {
		ifn := rule.fn
		return func(w *Writer, v reflect.Value) error {
			return ifn(w, reflect.NewAt(t, addrOf(v)).Elem().Interface())
		}, srcRegistry
	}
	if t.Kind() != reflect.Interface && t.Kind() != reflect.Pointer &&
		reflect.PointerTo(t).Implements(fingerprinterType) {
		return hookFunc(t), srcMethod
	}
	if fn := builtins[t]; fn != nil {
		return fn, srcBuiltin
	}
	return nil, 0
}

// locationLayout is where time.Location keeps its rules: the name, the
// zones (abbreviation, offset, daylight saving) and the transitions between
// them, and the rule for times after the last transition. Its fields are
// unexported; ok is false if this Go version lays them out otherwise.
var locationLayout = func() (l struct {
	name, zone, tx, extend int
	ok                     bool
}) {
	t := reflect.TypeFor[time.Location]()
	field := func(name string, kind reflect.Kind) int {
		f, found := t.FieldByName(name)
		if !found || f.Type.Kind() != kind || len(f.Index) != 1 {
			return -1
		}
		return f.Index[0]
	}
	l.name, l.zone, l.tx, l.extend = field("name", reflect.String), field("zone", reflect.Slice), field("tx", reflect.Slice), field("extend", reflect.String)
	if l.name < 0 || l.zone < 0 || l.tx < 0 || l.extend < 0 {
		return l
	}
	zt, tt := t.Field(l.zone).Type.Elem(), t.Field(l.tx).Type.Elem()
	l.ok = zt.Kind() == reflect.Struct && zt.NumField() >= 3 &&
		zt.Field(0).Type.Kind() == reflect.String && zt.Field(1).Type.Kind() == reflect.Int && zt.Field(2).Type.Kind() == reflect.Bool &&
		tt.Kind() == reflect.Struct && tt.NumField() >= 2 &&
		tt.Field(0).Type.Kind() == reflect.Int64 && tt.Field(1).Type.Kind() == reflect.Uint8
	return l
}()

// hashLocation writes a Location's name and rules: "Local" is a name every
// machine has, for whatever zone the machine is in, and two machines
// sharing a cache must not share a value computed for another zone.
func hashLocation(w *Writer, l *time.Location) error {
	w.String(l.String()) // String also loads time.Local on first use
	if !locationLayout.ok {
		return errors.New("this Go version lays out time.Location in a way flowcache does not know: its rules cannot be read")
	}
	v := reflect.ValueOf(l).Elem()
	zones, tx := v.Field(locationLayout.zone), v.Field(locationLayout.tx)
	w.Int(int64(zones.Len()))
	for i := range zones.Len() {
		z := zones.Index(i)
		w.String(z.Field(0).String())
		w.Int(z.Field(1).Int())
		w.Bool(z.Field(2).Bool())
	}
	w.Int(int64(tx.Len()))
	for i := range tx.Len() {
		x := tx.Index(i)
		w.Int(x.Field(0).Int())
		w.Uint(x.Field(1).Uint())
	}
	w.String(v.Field(locationLayout.extend).String())
	return nil
}
