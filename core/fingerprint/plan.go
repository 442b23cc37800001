package fingerprint

import (
	"encoding/binary"
	"reflect"
	"sync"

	"github.com/zeebo/blake3"
)

// encKind is how a type's values are encoded.
type encKind uint8

const (
	encBool encKind = iota + 1
	encInt
	encUint
	encFloat32
	encFloat64
	encComplex64
	encComplex128
	encString
	encRawSlice // slice of fixed-size numbers or bools: one block of memory
	encRawArray // array of the same
	encSlice
	encArray
	encMap
	encStruct
	encPointer
	encInterface
	encCustom
	encUnhashable
)

// typeInfo is the plan for encoding values of one type under one registry.
type typeInfo struct {
	t      reflect.Type
	kind   encKind
	id     Sum // digest of the type's identity
	elem   *typeInfo
	key    *typeInfo
	fields []fieldInfo
	raw    rawInfo
	custom customFunc
	src    byte   // for encCustom: srcRegistry, srcMethod or srcBuiltin
	reason string // for encUnhashable
}

type fieldInfo struct {
	name  string
	seg   string // ".name", for error paths
	index int
	info  *typeInfo
	// The rest of the field's identity, as Go's type identity has it.
	pkgPath  string // for an unexported field
	tag      string
	embedded bool
}

// rawInfo describes the elements of a raw-memory slice or array.
type rawInfo struct {
	size   int  // canonical bytes per element (8 for int, uint, uintptr)
	comp   int  // bytes per float component, 0 if the elements are not floats
	direct bool // memory already holds the canonical little-endian bytes
}

type planCache struct {
	m  sync.Map // reflect.Type -> *typeInfo
	mu sync.Mutex
}

func newPlanCache() *planCache { return &planCache{} }

var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// plan returns the typeInfo of t, building it (and those of the types it
// contains) on first use.
func (st *state) plan(t reflect.Type) *typeInfo {
	if ti, ok := st.plans.m.Load(t); ok {
		return ti.(*typeInfo)
	}
	return st.plans.build(st.reg, t)
}

func (c *planCache) build(r *Registry, t reflect.Type) *typeInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ti, ok := c.m.Load(t); ok {
		return ti.(*typeInfo)
	}
	b := planBuilder{r: r, c: c, fresh: map[reflect.Type]*typeInfo{}}
	ti := b.info(t)
	for _, x := range b.order {
		x.id = typeID(x)
	}
	for _, x := range b.order {
		c.m.Store(x.t, x)
	}
	return ti
}

type planBuilder struct {
	r     *Registry
	c     *planCache
	fresh map[reflect.Type]*typeInfo
	order []*typeInfo
}

func (b *planBuilder) info(t reflect.Type) *typeInfo {
	if ti, ok := b.c.m.Load(t); ok {
		return ti.(*typeInfo)
	}
	if ti := b.fresh[t]; ti != nil {
		return ti // recursive type: being built further up
	}
	ti := &typeInfo{t: t}
	b.fresh[t] = ti
	b.order = append(b.order, ti)
	if fn, src := b.r.customFor(t); fn != nil {
		ti.kind, ti.custom, ti.src = encCustom, fn, src
		return ti
	}
	switch t.Kind() {
	case reflect.Bool:
		ti.kind = encBool
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		ti.kind = encInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		ti.kind = encUint
	case reflect.Float32:
		ti.kind = encFloat32
	case reflect.Float64:
		ti.kind = encFloat64
	case reflect.Complex64:
		ti.kind = encComplex64
	case reflect.Complex128:
		ti.kind = encComplex128
	case reflect.String:
		ti.kind = encString
	case reflect.Slice, reflect.Array:
		ti.elem = b.info(t.Elem())
		raw, ok := rawLayout(ti.elem)
		switch {
		case ok && t.Kind() == reflect.Slice:
			ti.kind, ti.raw = encRawSlice, raw
		case ok:
			ti.kind, ti.raw = encRawArray, raw
		case t.Kind() == reflect.Slice:
			ti.kind = encSlice
		default:
			ti.kind = encArray
		}
	case reflect.Map:
		ti.kind = encMap
		ti.key = b.info(t.Key())
		ti.elem = b.info(t.Elem())
	case reflect.Struct:
		ti.kind = encStruct
		ti.fields = make([]fieldInfo, t.NumField())
		for i := range ti.fields {
			f := t.Field(i)
			ti.fields[i] = fieldInfo{name: f.Name, seg: "." + f.Name, index: i, info: b.info(f.Type),
				pkgPath: f.PkgPath, tag: string(f.Tag), embedded: f.Anonymous}
		}
	case reflect.Pointer:
		ti.kind = encPointer
		ti.elem = b.info(t.Elem())
	case reflect.Interface:
		ti.kind = encInterface
	case reflect.Func:
		ti.kind, ti.reason = encUnhashable, "funcs cannot be fingerprinted"
	case reflect.Chan:
		ti.kind, ti.reason = encUnhashable, "chans cannot be fingerprinted"
	default: // reflect.UnsafePointer
		ti.kind, ti.reason = encUnhashable, "unsafe pointers cannot be fingerprinted"
	}
	return ti
}

// rawLayout reports whether slices and arrays of elem can be hashed as a
// block of memory, and how.
func rawLayout(elem *typeInfo) (rawInfo, bool) {
	var r rawInfo
	switch elem.kind {
	case encBool, encInt, encUint:
		r.size = int(elem.t.Size())
		switch elem.t.Kind() {
		case reflect.Int, reflect.Uint, reflect.Uintptr:
			r.size = 8
		}
	case encFloat32, encComplex64:
		r.size, r.comp = int(elem.t.Size()), 4
	case encFloat64, encComplex128:
		r.size, r.comp = int(elem.t.Size()), 8
	default:
		return r, false
	}
	r.direct = littleEndian && int(elem.t.Size()) == r.size
	return r, true
}

// typeContext separates type identities from values. v3 added struct
// field tags, embedding and the package of unexported fields.
const typeContext = "flowcache fingerprint v3 type identity"

// typeID digests the identity of ti's type: kind, name, and structure.
func typeID(ti *typeInfo) Sum {
	h := blake3.NewDeriveKey(typeContext)
	d := typeDescriber{h: h}
	d.describe(ti)
	var s Sum
	h.Sum(s[:0])
	return s
}

type typeDescriber struct {
	h     *blake3.Hasher
	stack []*typeInfo
	buf   []byte
}

func (d *typeDescriber) u64(x uint64) {
	d.buf = binary.LittleEndian.AppendUint64(d.buf[:0], x)
	_, _ = d.h.Write(d.buf)
}

func (d *typeDescriber) str(s string) {
	d.u64(uint64(len(s)))
	_, _ = d.h.WriteString(s)
}

// Tags of the type description.
const (
	descType    = 1 // kind, encoding, package path, name, then structure
	descBackref = 2 // a type enclosing this one: how many levels up
)

func (d *typeDescriber) describe(ti *typeInfo) {
	for i := len(d.stack) - 1; i >= 0; i-- {
		if d.stack[i] == ti {
			d.u64(descBackref)
			d.u64(uint64(len(d.stack) - i))
			return
		}
	}
	d.stack = append(d.stack, ti)
	defer func() { d.stack = d.stack[:len(d.stack)-1] }()
	t := ti.t
	d.u64(descType)
	d.u64(uint64(t.Kind()))
	d.u64(uint64(ti.kind))
	d.str(t.PkgPath())
	d.str(t.Name())
	switch ti.kind {
	case encCustom:
		d.u64(uint64(ti.src))
		d.str(t.String())
	case encRawSlice, encSlice, encPointer:
		d.describe(ti.elem)
	case encRawArray, encArray:
		d.u64(uint64(t.Len()))
		d.describe(ti.elem)
	case encMap:
		d.describe(ti.key)
		d.describe(ti.elem)
	case encStruct:
		d.u64(uint64(len(ti.fields)))
		for _, f := range ti.fields {
			d.str(f.name)
			d.str(f.pkgPath)
			d.str(f.tag)
			if f.embedded {
				d.u64(1)
			} else {
				d.u64(0)
			}
			d.describe(f.info)
		}
	case encInterface, encUnhashable:
		d.str(t.String())
	}
}
