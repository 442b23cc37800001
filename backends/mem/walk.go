package mem

import (
	"context"

	"github.com/flowcache/flowcache/core"
)

var _ core.EntryRemover = (*MetadataStore)(nil)

// RemoveEntries implements core.EntryRemover: under one lock, it deletes
// every entry of entries that still maps to the same data version and
// format and was neither created nor used after the entry's times. It
// returns the ids deleted. (The result store of package mem, a
// blobstore.ResultStore, implements core.ResultWalker.)
func (s *MetadataStore) RemoveEntries(ctx context.Context, entries []core.Entry) ([]core.KeyID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed("remove entries")
	}
	var done []core.KeyID
	for _, e := range entries {
		id := e.ID()
		cur, ok := s.entries[id]
		if !ok || cur.DataVersion != e.DataVersion || cur.Format != e.Format || cur.Created.After(e.Created) || cur.LastUsed.After(e.LastUsed) {
			continue
		}
		delete(s.entries, id)
		done = append(done, id)
	}
	return done, nil
}
