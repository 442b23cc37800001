package formats

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// pathBuilder tracks where a walk over a value is, cheaply: segments are
// pushed and popped as the walk goes and only rendered for an error
// message, like `[3].Scores["a"]`.
type pathBuilder struct {
	segs []pathSeg
}

type pathSeg struct {
	index int           // >= 0: an index
	key   reflect.Value // valid: a map key
	name  string        // otherwise: a field selector or a map part
}

func (p *pathBuilder) push(index int, name string) {
	p.segs = append(p.segs, pathSeg{index: index, name: name})
}

func (p *pathBuilder) pushKey(k reflect.Value) {
	p.segs = append(p.segs, pathSeg{index: -1, key: k})
}

func (p *pathBuilder) pop() { p.segs = p.segs[:len(p.segs)-1] }

func (p *pathBuilder) String() string {
	var b strings.Builder
	for _, s := range p.segs {
		switch {
		case s.index >= 0:
			b.WriteString(indexSeg(s.index))
		case s.key.IsValid():
			b.WriteString(keySeg(s.key))
		default:
			b.WriteString(s.name)
		}
	}
	return b.String()
}

func indexSeg(i int) string { return "[" + strconv.Itoa(i) + "]" }

func keySeg(k reflect.Value) string {
	var s string
	switch {
	case k.Kind() == reflect.String:
		s = strconv.Quote(k.String())
	case k.CanInterface():
		s = fmt.Sprint(k.Interface())
	default:
		s = k.Type().String() + " key"
	}
	if len(s) > 48 {
		s = s[:45] + "..."
	}
	return "[" + s + "]"
}
