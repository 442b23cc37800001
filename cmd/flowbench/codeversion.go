package main

import (
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowcache/flowcache/core/codeversion"
	"github.com/flowcache/flowcache/internal/chaingen"
)

// codeVersionBench measures what code versions cost a process, each phase in
// a fresh process: "edit" is the first process after an edit of the module
// (its table of versions does not match: the module is parsed and
// type-checked, the chain's versions computed and the table written), and
// "warm" a process of an unchanged module (the module listed, the table
// read). The module is this one; the functions are the chain's.
func codeVersionBench(args []string) error {
	fl := flag.NewFlagSet("codeversion", flag.ExitOnError)
	n := fl.Int("n", 1000, "number of chain functions to version (at most 2000)")
	reps := fl.Int("reps", 5, "repetitions of each phase (the median is reported)")
	phase := fl.String("phase", "", "internal: run one phase in this process")
	fl.Parse(args)
	if *n < 1 || *n > len(chaingen.Funcs) {
		return fmt.Errorf("-n %d: want 1..%d", *n, len(chaingen.Funcs))
	}
	if *phase != "" {
		start := time.Now()
		for _, fn := range chaingen.Funcs[:*n] {
			info, err := codeversion.Of(fn)
			if err != nil {
				return err
			}
			if !info.FromSource {
				return fmt.Errorf("%s: no source: %s", info.Func, info.Fallback)
			}
		}
		codeversion.Save()
		fmt.Println(time.Since(start).Nanoseconds())
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "flowbench-codeversion-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	child := func(phase, tables string) (time.Duration, error) {
		cmd := exec.Command(self, "codeversion", "-n", strconv.Itoa(*n), "-phase", phase)
		cmd.Env = append(os.Environ(), "FLOWCACHE_CODEVERSION_CACHE="+tables)
		out, err := cmd.Output()
		if err != nil {
			return 0, fmt.Errorf("%s process: %w", phase, exitText(err))
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
		return time.Duration(ns), err
	}
	i := 0
	var last string
	edit, err := medianOf(*reps, func(int) (time.Duration, error) {
		i++
		last = filepath.Join(tmp, strconv.Itoa(i)) // no table yet: as after an edit
		return child("edit", last)
	}, func(d time.Duration) int64 { return int64(d) })
	if err != nil {
		return err
	}
	warm, err := medianOf(*reps, func(int) (time.Duration, error) { return child("warm", last) },
		func(d time.Duration) int64 { return int64(d) })
	if err != nil {
		return err
	}
	info, err := codeversion.Of(chaingen.Funcs[0])
	if err != nil {
		return err
	}
	files, lines := moduleSize(info.File)
	for _, p := range []struct {
		name string
		d    time.Duration
	}{{"edit", edit}, {"warm", warm}} {
		emit(map[string]any{
			"bench": "codeversion", "phase": p.name, "funcs": *n, "reps": *reps,
			"module_go_files": files, "module_go_lines": lines,
			"total_ms":    round(float64(p.d.Nanoseconds())/1e6, 3),
			"us_per_func": round(float64(p.d.Nanoseconds())/1e3/float64(*n), 3),
		})
	}
	return nil
}

// moduleSize counts the Go files and lines of the module holding file.
func moduleSize(file string) (files, lines int) {
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return 0, 0
		}
		dir = parent
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(p, ".go") {
			b, err := os.ReadFile(p)
			if err == nil {
				files++
				lines += bytes.Count(b, []byte{'\n'})
			}
		}
		return nil
	})
	return files, lines
}
