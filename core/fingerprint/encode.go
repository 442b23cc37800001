package fingerprint

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"unsafe"
)

// The walk keeps one invariant: every value it visits that was read through
// an unexported field is addressable. Values that are not addressable (the
// top-level value, an interface's dynamic value) are copied into fresh
// memory when their kind has parts to visit, and map entries are copied into
// addressable temporaries. So clean can always turn a read-only value into a
// usable one, and custom rules can always take the value's address.

// top writes v as an interface would hold it: nil mark, or type identity
// and contents.
func (w *Writer) top(v reflect.Value, depth int) error {
	if !v.IsValid() {
		w.byte1(0)
		return nil
	}
	ti := w.st.plan(v.Type())
	w.byte1(1)
	w.bytes(ti.id[:])
	return w.encode(ti, addressable(ti, v), depth)
}

// addressable returns v, copied into fresh memory if v is not addressable
// and its kind has parts to visit or needs an address.
func addressable(ti *typeInfo, v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return v
	}
	switch ti.kind {
	case encStruct, encArray, encRawArray, encCustom:
		n := reflect.New(ti.t).Elem()
		n.Set(v)
		return n
	}
	return v
}

// clean returns v without the read-only flag of values read through
// unexported fields. v must be addressable if it has that flag.
func clean(v reflect.Value) reflect.Value {
	if v.CanInterface() || !v.CanAddr() {
		return v
	}
	return reflect.NewAt(v.Type(), addrOf(v)).Elem()
}

// withSeg adds a path segment (outermost last) to an unhashable error.
func withSeg(err error, seg string) error {
	if ue, ok := err.(*UnhashableError); ok {
		ue.segs = append(ue.segs, seg)
	}
	return err
}

func indexSeg(i int) string { return "[" + strconv.Itoa(i) + "]" }

func keySeg(k reflect.Value) string {
	var s string
	switch k.Kind() {
	case reflect.String:
		s = strconv.Quote(k.String())
	default:
		if k.CanInterface() {
			s = fmt.Sprint(k.Interface())
		} else {
			s = k.Type().String() + " key"
		}
	}
	if len(s) > 48 {
		s = s[:45] + "..."
	}
	return "[" + s + "]"
}

// encode writes the contents of v, of type ti.t, at the given depth.
func (w *Writer) encode(ti *typeInfo, v reflect.Value, depth int) error {
	st := w.st
	if depth > st.maxDepth {
		return &UnhashableError{Type: ti.t, Reason: fmt.Sprintf("nested deeper than MaxDepth %d", st.maxDepth)}
	}
	switch ti.kind {
	case encBool:
		if v.Bool() {
			w.byte1(1)
		} else {
			w.byte1(0)
		}
	case encInt:
		w.u64(uint64(v.Int()))
	case encUint:
		w.u64(v.Uint())
	case encFloat32:
		w.uN(uint64(canon32(float32(v.Float()))), 4)
	case encFloat64:
		w.u64(canon64(v.Float()))
	case encComplex64:
		c := v.Complex()
		w.uN(uint64(canon32(float32(real(c)))), 4)
		w.uN(uint64(canon32(float32(imag(c)))), 4)
	case encComplex128:
		c := v.Complex()
		w.u64(canon64(real(c)))
		w.u64(canon64(imag(c)))
	case encString:
		s := v.String()
		w.u64(uint64(len(s)))
		w.str(s)
	case encRawSlice:
		if v.IsNil() {
			w.byte1(0)
			return nil
		}
		n := v.Len()
		w.byte1(1)
		w.u64(uint64(n))
		if n == 0 {
			return nil
		}
		if ti.raw.direct {
			w.raw(unsafe.Slice((*byte)(v.UnsafePointer()), n*ti.raw.size), ti.raw.comp)
		} else {
			w.rawElems(ti, v, n)
		}
	case encRawArray:
		n := v.Len()
		if n == 0 {
			return nil
		}
		if ti.raw.direct && v.CanAddr() {
			w.raw(unsafe.Slice((*byte)(addrOf(v)), n*ti.raw.size), ti.raw.comp)
		} else {
			w.rawElems(ti, v, n)
		}
	case encSlice:
		if v.IsNil() {
			w.byte1(0)
			return nil
		}
		n := v.Len()
		w.byte1(1)
		w.u64(uint64(n))
		for i := range n {
			if err := w.encode(ti.elem, v.Index(i), depth+1); err != nil {
				return withSeg(err, indexSeg(i))
			}
		}
	case encArray:
		for i := range v.Len() {
			if err := w.encode(ti.elem, v.Index(i), depth+1); err != nil {
				return withSeg(err, indexSeg(i))
			}
		}
	case encStruct:
		for i := range ti.fields {
			f := &ti.fields[i]
			if err := w.encode(f.info, v.Field(f.index), depth+1); err != nil {
				return withSeg(err, f.seg)
			}
		}
	case encPointer:
		if v.IsNil() {
			w.byte1(0)
			return nil
		}
		p := v.Pointer()
		for _, a := range st.stack {
			if a.p == p && a.t == ti.t {
				return &UnhashableError{Type: ti.t, Reason: "cycle: points back to a value that contains it"}
			}
		}
		st.stack = append(st.stack, ancestor{p: p, t: ti.t})
		w.byte1(1)
		err := w.encode(ti.elem, v.Elem(), depth)
		st.stack = st.stack[:len(st.stack)-1]
		return err
	case encInterface:
		v = clean(v)
		if v.IsNil() {
			w.byte1(0)
			return nil
		}
		e := v.Elem()
		eti := st.plan(e.Type())
		w.byte1(1)
		w.bytes(eti.id[:])
		return w.encode(eti, addressable(eti, e), depth)
	case encMap:
		return w.encodeMap(ti, clean(v), depth)
	case encCustom:
		saved := w.depth
		w.depth = depth
		err := ti.custom(w, v)
		w.depth = saved
		if err != nil {
			if ue, ok := errors.AsType[*UnhashableError](err); ok {
				return ue
			}
			return &UnhashableError{Type: ti.t, Reason: customReason[ti.src], Err: err}
		}
		w.byte1(tagEnd)
	default: // encUnhashable: a nil func, chan or unsafe.Pointer is just "nil"
		if v.IsNil() {
			w.byte1(0)
			return nil
		}
		return &UnhashableError{Type: ti.t, Reason: ti.reason}
	}
	return nil
}

var customReason = map[byte]string{
	srcRegistry: "registered fingerprint function failed",
	srcMethod:   "Fingerprint method failed",
	srcBuiltin:  "built-in fingerprint rule failed",
}

// encodeMap writes a map as a nil mark, or its length and the sorted
// digests of its key/value pairs, so iteration order does not matter.
func (w *Writer) encodeMap(ti *typeInfo, v reflect.Value, depth int) error {
	if v.IsNil() {
		w.byte1(0)
		return nil
	}
	w.byte1(1)
	if v.Len() == 0 {
		w.u64(0)
		return nil
	}
	st := w.st
	level := st.mapLevel
	if level == len(st.sumBufs) {
		st.sumBufs = append(st.sumBufs, nil)
	}
	st.mapLevel++
	defer func() { st.mapLevel-- }()
	sums := st.sumBufs[level][:0]

	k := reflect.New(ti.key.t).Elem()
	e := reflect.New(ti.elem.t).Elem()
	pw := st.getWriter()
	defer st.putWriter(pw)
	it := v.MapRange()
	for it.Next() {
		k.SetIterKey(it)
		e.SetIterValue(it)
		pw.reset()
		if err := pw.encode(ti.key, k, depth+1); err != nil {
			return withSeg(err, keySeg(k)+"(key)")
		}
		if err := pw.encode(ti.elem, e, depth+1); err != nil {
			return withSeg(err, keySeg(k))
		}
		sums = append(sums, pw.sum())
	}
	slices.SortFunc(sums, func(a, b Sum) int { return bytes.Compare(a[:], b[:]) })
	w.u64(uint64(len(sums)))
	for i := range sums {
		w.bytes(sums[i][:])
	}
	clear(sums)
	st.sumBufs[level] = sums[:0]
	return nil
}
