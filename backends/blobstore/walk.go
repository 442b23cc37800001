package blobstore

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/core"
)

var _ core.ResultWalker = (*ResultStore)(nil)

// WalkResults implements core.ResultWalker: like Walk, it calls fn for every
// result in the store, in the order of their object names, with the size of
// the stored object and its modification time as the result's creation time
// (results are written once, so the two are the same).
func (s *ResultStore) WalkResults(ctx context.Context, fn func(core.ResultInfo) error) error {
	if s.closed.Load() {
		return fmt.Errorf("%s: walk: %w", s.name, core.ErrClosed)
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: s.prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: walk under %q: %w", s.name, s.prefix, err)
		}
		id, ok := s.ParseKey(obj.Key)
		if obj.IsDir || !ok {
			continue
		}
		if err := fn(core.ResultInfo{ID: id, Size: obj.Size, Created: obj.ModTime}); err != nil {
			return err
		}
	}
}
