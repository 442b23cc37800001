package driver

import (
	"context"
	"errors"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/view"
)

// ViewRun draws a run of the cache — its dataflow, with the nodes retrieved
// from the cache outlined, inputs, overrides and requested outputs marked,
// and a legend — to the file at path, in the format its extension names:
// .dot for Graphviz's DOT, .svg for SVG once the program imports
// github.com/flowcache/flowcache/view/svg. With run == "" it draws the last
// run of this driver's cache (see core.Cache.LastRunID). It is Hamilton's
// dr.cache.view_run(run_id=..., output_file_path=...); the drawing comes
// from the metadata store alone, so view.WriteFile draws any run of a cache
// in any process, long after the run.
func (d *Driver) ViewRun(ctx context.Context, run core.RunID, path string, opts ...view.Option) error {
	if d.cache == nil {
		return errors.New("driver: ViewRun: the driver was built without WithCache")
	}
	if run == "" {
		var err error
		if run, err = d.cache.LastRunID(ctx); err != nil {
			return err
		}
	}
	return view.WriteFile(ctx, d.cache.Metadata(), run, path, opts...)
}
