package blobstore

import (
	"context"
	"fmt"
	"io"

	"gocloud.dev/blob"

	"github.com/flowcache/flowcache/core"
)

var _ core.ResultWalker = (*Store)(nil)

// WalkResults implements core.ResultWalker: like Walk, it calls fn for every
// result in the store, in the order of their object names, with the size of
// the stored object and its modification time as the result's creation time
// (results are written once, so the two are the same).
func (s *Store) WalkResults(ctx context.Context, fn func(core.ResultInfo) error) error {
	if s.closed.Load() {
		return fmt.Errorf("blobstore: walk: %w", core.ErrClosed)
	}
	it := s.bucket.List(&blob.ListOptions{Prefix: s.prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blobstore: walk under %q: %w", s.prefix, err)
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
