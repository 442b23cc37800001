package codeversion

import (
	"errors"
	"fmt"
	"go/token"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"
)

// fileEntry is one cached source file, for finding the declarations of
// compiler-generated wrappers: its summary, made once. A changed size or
// modification time replaces the entry.
type fileEntry struct {
	path  string
	size  int64
	mtime time.Time
	// checked is when size and mtime were last compared with the file's
	// (guarded by resolver.mu).
	checked time.Time

	parse sync.Once // makes concurrent callers share one parse
	sum   *fileSummary
	err   error
}

// file returns the cached source file at path, replaced when its size or
// modification time changed. When r.recheck is positive, a file checked
// less than r.recheck ago is not looked at again.
func (r *resolver) file(path string) (*fileEntry, error) {
	var now time.Time
	if r.recheck > 0 {
		now = r.now()
		r.mu.Lock()
		e := r.files[path]
		fresh := e != nil && !e.checked.IsZero() && now.Sub(e.checked) < r.recheck
		r.mu.Unlock()
		if fresh {
			return e, nil
		}
	}
	fi, err := r.stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source file %s not found", path)
		}
		return nil, fmt.Errorf("source file %s: %v", path, err)
	}
	r.mu.Lock()
	e := r.files[path]
	if e == nil || e.size != fi.Size() || !e.mtime.Equal(fi.ModTime()) {
		e = &fileEntry{path: path, size: fi.Size(), mtime: fi.ModTime()}
		r.files[path] = e
	}
	if r.recheck > 0 && now.After(e.checked) {
		e.checked = now
	}
	r.mu.Unlock()
	return e, nil
}

// summary returns the summary of the file at path, parsing it once.
func (r *resolver) summary(path string) (*fileSummary, error) {
	e, err := r.file(path)
	if err != nil {
		return nil, err
	}
	e.parse.Do(func() {
		b, err := r.readFile(e.path)
		if err != nil {
			e.err = fmt.Errorf("source file %s: %v", e.path, err)
			return
		}
		e.sum, e.err = summarize(e.path, b)
	})
	return e.sum, e.err
}

// splitName splits a runtime function name into its package path and the
// rest: "example.com/a/b.(*T).M" -> "example.com/a/b", "(*T).M". The linker
// escapes dots in the last element of a package path ("yaml%2ev3"), so the
// first dot after the last slash ends the path.
func splitName(name string) (pkg, rest string) {
	head := name
	if i := strings.IndexByte(head, '['); i >= 0 {
		head = head[:i]
	}
	slash := strings.LastIndexByte(head, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return "", name
	}
	return name[:slash+1+dot], name[slash+1+dot+1:]
}

// runtimeName is a parsed runtime function name, relative to its package.
type runtimeName struct {
	key     string // declaration key: "F" or "T.M"
	closure []int  // closure path: N of funcN, then the nested indices
	// plain is true when the name is a declaration key followed by a
	// well-formed closure path, i.e. when the compiler did not rename the
	// function because of inlining or range-over-func rewriting.
	plain bool
}

// parseRuntimeName parses the part of a runtime name after the package,
// e.g. "(*T).M-fm", "G[...].M", "Outer.func2.1".
func parseRuntimeName(rest string) runtimeName {
	rest = strings.TrimSuffix(rest, "-fm")
	rest = strings.ReplaceAll(rest, "[...]", "")
	// strings.Split(rest, "."), without allocating for short names.
	var short [8]string
	segs := short[:0]
	for s := rest; ; {
		seg, after, found := strings.Cut(s, ".")
		segs = append(segs, seg)
		if !found {
			break
		}
		s = after
	}
	var n runtimeName
	i := 1
	switch {
	case strings.HasPrefix(segs[0], "(*") && strings.HasSuffix(segs[0], ")") && len(segs) > 1:
		n.key = segs[0][2:len(segs[0])-1] + "." + segs[1]
		i = 2
	case len(segs) > 1 && closureIndex(segs[1], true) == 0:
		n.key = rest[:len(segs[0])+1+len(segs[1])] // segs[0] + "." + segs[1]
		i = 2
	default:
		n.key = segs[0]
	}
	n.plain = validIdent(n.key)
	for j, seg := range segs[i:] {
		k := closureIndex(seg, j == 0)
		if k == 0 {
			n.plain = false
			break
		}
		n.closure = append(n.closure, k)
	}
	return n
}

// closureIndex returns N for "funcN" (first) or "N" (nested), 0 otherwise.
func closureIndex(seg string, first bool) int {
	if first {
		var ok bool
		if seg, ok = strings.CutPrefix(seg, "func"); !ok {
			return 0
		}
	}
	if seg == "" || seg[0] == '0' {
		return 0
	}
	k, err := strconv.Atoi(seg)
	if err != nil || k <= 0 {
		return 0
	}
	return k
}

// validIdent reports whether key is "F" or "T.M" made of identifiers.
func validIdent(key string) bool {
	for part := range strings.SplitSeq(key, ".") {
		if !token.IsIdentifier(part) {
			return false
		}
	}
	return true
}
