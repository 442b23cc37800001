package view

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/flowcache/flowcache/core"

	"github.com/flowcache/flowcache/internal/atomicfile"
)

// RenderFunc turns a drawing in DOT into another format, written to w.
type RenderFunc func(ctx context.Context, dot []byte, w io.Writer) error

var (
	renderMu  sync.RWMutex
	renderers = map[string]RenderFunc{}
)

// RegisterFormat makes Render and WriteFile write format (a lower-case
// file extension without the dot, e.g. "svg") with render. Packages that
// render call it from init, like database/sql drivers: importing
// github.com/flowcache/flowcache/view/svg registers "svg". It panics when
// the format is "dot" or already registered, or render is nil.
func RegisterFormat(format string, render RenderFunc) {
	format = strings.ToLower(format)
	renderMu.Lock()
	defer renderMu.Unlock()
	if render == nil || format == "" || format == "dot" || renderers[format] != nil {
		panic(fmt.Sprintf("view: RegisterFormat(%q): empty, nil, built in or registered twice", format))
	}
	renderers[format] = render
}

// Formats returns the formats Render writes, sorted: "dot" and the
// registered ones.
func Formats() []string {
	renderMu.RLock()
	defer renderMu.RUnlock()
	out := []string{"dot"}
	for f := range renderers {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Render writes the graph to w in format: "dot", or a format registered
// with RegisterFormat ("svg" once github.com/flowcache/flowcache/view/svg
// is imported). The error for an unknown format says which package to
// import.
func (g *Graph) Render(ctx context.Context, w io.Writer, format string) error {
	if err := RenderDOT(ctx, g.DOT(), w, format); err != nil {
		return fmt.Errorf("view: rendering run %s as %s: %w", g.Run, format, err)
	}
	return nil
}

// RenderDOT writes a graph given in DOT to w in format, as Graph.Render
// does: "dot" (the bytes as they are) or a format registered with
// RegisterFormat. It draws graphs that are not runs, such as the lineage
// the web view shows.
func RenderDOT(ctx context.Context, dot []byte, w io.Writer, format string) error {
	format = strings.ToLower(format)
	if format == "dot" || format == "gv" {
		_, err := w.Write(dot)
		return err
	}
	renderMu.RLock()
	render := renderers[format]
	renderMu.RUnlock()
	if render == nil {
		hint := ""
		if format == "svg" {
			hint = `; import _ "github.com/flowcache/flowcache/view/svg" to render SVG`
		}
		return fmt.Errorf("view: %w: no renderer for format %q (have %s)%s", core.ErrInvalid, format, strings.Join(Formats(), ", "), hint)
	}
	return render(ctx, dot, w)
}

// WriteFile draws run (the newest run when run == "") from the metadata
// store to the file at path, in the format its extension names: .dot (or
// .gv) for DOT, .svg for SVG (importing github.com/flowcache/flowcache/view/svg),
// or any format registered with RegisterFormat. It is the equivalent of
// Hamilton's dr.cache.view_run(run_id=..., output_file_path=...), except
// that it needs only the metadata store: any earlier run can be drawn, by
// any process. The file is written whole or not at all (a temporary file
// renamed into place).
func WriteFile(ctx context.Context, meta core.MetadataStore, run core.RunID, path string, opts ...Option) error {
	format := strings.TrimPrefix(filepath.Ext(path), ".")
	if format == "" {
		return fmt.Errorf("view: %w: output file %q has no extension to name its format (%s)", core.ErrInvalid, path, strings.Join(Formats(), ", "))
	}
	g, err := Load(ctx, meta, run, opts...)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := g.Render(ctx, &buf, format); err != nil {
		return err
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("view: writing %s: %w", path, err)
	}
	return nil
}

// WriteRun draws run of the cache a program runs with — its dataflow, with
// the nodes retrieved from the cache outlined, inputs, overrides and
// requested outputs marked, and a legend — to the file at path, as
// WriteFile does. With run == "" it draws the cache's last run (see
// core.Cache.LastRunID), not the newest run of its store, which another
// process may have made. It is Hamilton's dr.cache.view_run(run_id=...,
// output_file_path=...); a driver gives its cache with Driver.Cache:
//
//	err := view.WriteRun(ctx, dr.Cache(), "", "run.svg") // the driver's last run
//
// A nil cache (a driver built without WithCache) is an error.
func WriteRun(ctx context.Context, c *core.Cache, run core.RunID, path string, opts ...Option) error {
	if c == nil {
		return errors.New("view: WriteRun: no cache (was the driver built without WithCache?)")
	}
	if run == "" {
		var err error
		if run, err = c.LastRunID(ctx); err != nil {
			return err
		}
	}
	return WriteFile(ctx, c.Metadata(), run, path, opts...)
}
