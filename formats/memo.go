package formats

import (
	"reflect"
	"sync"
)

// typeMemo returns f memoised per type: f walks a type graph (seen guards
// recursive types) and its answer depends on the type alone, so it is
// computed once and read lock-free afterwards.
func typeMemo(f func(t reflect.Type, seen map[reflect.Type]bool) bool) func(reflect.Type) bool {
	var m sync.Map // reflect.Type -> bool
	return func(t reflect.Type) bool {
		if v, ok := m.Load(t); ok {
			return v.(bool)
		}
		v := f(t, map[reflect.Type]bool{})
		m.Store(t, v)
		return v
	}
}
