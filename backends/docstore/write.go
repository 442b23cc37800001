package docstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
	"unicode/utf8"

	gcds "gocloud.dev/docstore"
	"gocloud.dev/gcerrors"

	"github.com/flowcache/flowcache/core"
)

// maxRecordsBytes bounds the records blob of one history document:
// DynamoDB items are limited to 400 KB and Firestore documents to 1 MiB. A
// batch whose records encode larger is split into several documents (a
// single record larger than this goes alone).
const maxRecordsBytes = 256 << 10

// maxAttempts bounds how often a document is read and written again after
// losing a race to another writer. Every lost race is another writer's
// success, so reaching it takes a storm of writers on one key.
const maxAttempts = 64

// Write applies a batch: the entries, the hits and the run history are
// written at once (one action list each, run concurrently), every document
// on its own. The batch is checked whole before anything is written: an
// invalid one is an error wrapping core.ErrInvalid and writes nothing. The
// servers have no multi-document transactions (see the package doc): an
// error or a crash part way may leave some of the batch's documents
// written, each of them whole.
func (s *MetadataStore) Write(ctx context.Context, b core.Batch) error {
	op := "write"
	if b.Run != "" {
		op = "write batch of run " + string(b.Run)
	}
	if err := s.checkOpen(op); err != nil {
		return err
	}
	if err := b.Validate(); err != nil {
		return s.fail(op, err)
	}
	if err := checkStrings(b); err != nil {
		return s.fail(op, err)
	}
	now := b.Time(s.now).UnixNano()

	// Entries, one document per key: of a key written twice in the batch
	// the last write wins, keeping the first one's created time when it
	// stores the same mapping. A hit on a key the batch writes moves the
	// written last-used time forward instead of being a second write.
	var entries []*document
	byID := map[core.KeyID]int{}
	for _, e := range b.Entries {
		id := e.ID()
		d := newEntryDoc(e, now)
		if i, ok := byID[id]; ok {
			if prev := entries[i]; prev.DataVersion == d.DataVersion && prev.Format == d.Format {
				d.Created = prev.Created
			}
			entries[i] = d
			continue
		}
		byID[id] = len(entries)
		entries = append(entries, d)
	}
	var hits []core.KeyID
	hit := map[core.KeyID]bool{}
	for _, id := range b.Hits {
		if i, ok := byID[id]; ok {
			entries[i].LastUsed = max(entries[i].LastUsed, now)
			continue
		}
		if id.Validate() == nil && !hit[id] {
			hit[id] = true
			hits = append(hits, id)
		}
	}
	var chunks [][]byte
	if len(b.Records) > 0 {
		recs := make([]core.NodeRecord, len(b.Records))
		for i, r := range b.Records {
			r.Key = r.StoredKey()
			recs[i] = r
		}
		chunks = chunkRecords(recs, maxRecordsBytes)
	}

	var (
		wg   sync.WaitGroup
		errs [3]error
	)
	if len(entries) > 0 {
		wg.Go(func() { errs[0] = s.writeEntries(ctx, entries) })
	}
	if len(hits) > 0 {
		wg.Go(func() { errs[1] = s.touch(ctx, hits, now) })
	}
	if len(chunks) > 0 {
		wg.Go(func() { errs[2] = s.appendHistory(ctx, b.Run, now, chunks) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return s.fail(op, err)
	}
	return nil
}

// checkStrings reports, as an error wrapping core.ErrInvalid, a string of
// b that the store keeps as a string and that is not valid UTF-8: DynamoDB
// (JSON) would silently replace its bad bytes and Firestore rejects it. Run
// records are kept as bytes and may hold anything.
func checkStrings(b core.Batch) error {
	if len(b.Records) > 0 {
		if err := b.Run.Validate(); err != nil {
			return err
		}
	}
	for _, e := range b.Entries {
		ok := utf8.ValidString(e.Key.Node) && utf8.ValidString(string(e.Key.CodeVersion)) &&
			utf8.ValidString(string(e.DataVersion)) && utf8.ValidString(e.Format)
		for _, d := range e.Key.Deps {
			ok = ok && utf8.ValidString(d.Name) && utf8.ValidString(string(d.Version))
		}
		if !ok {
			return fmt.Errorf("%w: entry for %s has a name, version or format that is not valid UTF-8", core.ErrInvalid, e.Key)
		}
	}
	return nil
}

// chunkRecords encodes recs as core.AppendRecords blobs of at most limit
// bytes each (unless a single record is larger), in order.
func chunkRecords(recs []core.NodeRecord, limit int) [][]byte {
	b := core.AppendRecords(nil, recs)
	if len(b) <= limit || len(recs) == 1 {
		return [][]byte{b}
	}
	h := len(recs) / 2
	return append(chunkRecords(recs[:h], limit), chunkRecords(recs[h:], limit)...)
}

// do runs al, which holds n actions, and returns which of them are known to
// have succeeded. An action that failed with a conflict (the document
// exists, is missing, or changed since it was read) is not, and neither is
// any action when the driver reports an error without saying which action
// it belongs to (mongodocstore does for bulk writes); the caller reads the
// documents again to find out. Any other failure is returned as an error.
func do(ctx context.Context, al *gcds.ActionList, n int) ([]bool, error) {
	ok := make([]bool, n)
	err := al.Do(ctx)
	if err == nil {
		for i := range ok {
			ok[i] = true
		}
		return ok, nil
	}
	var ale gcds.ActionListError
	if !errors.As(err, &ale) {
		return nil, err
	}
	failed := make([]bool, n)
	unattributed := false
	for _, e := range ale {
		if !conflict(e.Err) {
			return nil, e.Err
		}
		if e.Index < 0 || e.Index >= n {
			unattributed = true
		} else {
			failed[e.Index] = true
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	for i := range ok {
		ok[i] = !unattributed && !failed[i]
	}
	return ok, nil
}

// conflict reports whether err is a lost race with another writer, or
// throttling, after which reading and writing again is the cure.
func conflict(err error) bool {
	switch gcerrors.Code(err) {
	case gcerrors.AlreadyExists, gcerrors.FailedPrecondition, gcerrors.NotFound, gcerrors.ResourceExhausted:
		return true
	}
	return false
}

// backoff waits a little before attempt (1, 2, ...): 1 ms doubling to 64
// ms, jittered, so that writers racing for one document spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Millisecond << min(attempt-1, 6)
	t := time.NewTimer(d/2 + rand.N(d))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// current reads the documents with the keys of docs (only the given
// fields when fps is not empty). A missing document is nil; one that does
// not decode (not written by this store) is a document with a nil
// revision and no fields.
func (s *MetadataStore) current(ctx context.Context, docs []*document, fps ...gcds.FieldPath) ([]*document, error) {
	cur := make([]*document, len(docs))
	al := s.coll.Actions()
	for i, d := range docs {
		cur[i] = &document{PK: d.PK, SK: d.SK}
		al.Get(cur[i], fps...)
	}
	err := al.Do(ctx)
	if err == nil {
		return cur, nil
	}
	var ale gcds.ActionListError
	if !errors.As(err, &ale) {
		return nil, err
	}
	for _, e := range ale {
		switch {
		case e.Index < 0 || e.Index >= len(docs):
			return nil, e.Err
		case gcerrors.Code(e.Err) == gcerrors.NotFound:
			cur[e.Index] = nil
		case gcerrors.Code(e.Err) == gcerrors.InvalidArgument:
			cur[e.Index] = &document{PK: docs[e.Index].PK, SK: docs[e.Index].SK, Kind: "?"}
		default:
			return nil, e.Err
		}
	}
	return cur, nil
}

// writeEntries stores entry documents, each replacing what is stored only
// if it has not changed since it was read (docstore revisions):
//
//  1. read the stored documents (one action list);
//  2. for each, work out what to write: a stored document with the same
//     data version and format keeps its created time; a document that
//     already holds exactly that is left alone (writing a batch twice
//     writes nothing the second time);
//  3. Create the missing ones, Replace the others under their revision
//     (one action list);
//  4. read and write again those that lost a race with another writer.
func (s *MetadataStore) writeEntries(ctx context.Context, want []*document) error {
	return s.writeUnraced(ctx, want, nil, func(al *gcds.ActionList, w, c *document) bool {
		d := *w
		switch {
		case c == nil:
			al.Create(&d)
		case c.Kind != kindEntry: // not an entry of this store: overwrite it
			al.Put(&d)
		default:
			if c.DataVersion == d.DataVersion && c.Format == d.Format {
				d.Created = c.Created
			}
			if sameEntry(c, &d) {
				return false
			}
			d.DocstoreRevision = c.DocstoreRevision
			al.Replace(&d)
		}
		return true
	}, func(d *document, attempts int) error {
		return fmt.Errorf("entry of node %.200q: gave up after %d writes that lost a race with other writers", d.Node, attempts)
	})
}

// touch moves the last-used time of the entries of ids forward to now,
// never back: each is read, and updated under its revision only when its
// last-used time is earlier. A missing entry is left missing.
func (s *MetadataStore) touch(ctx context.Context, ids []core.KeyID, now int64) error {
	pending := make([]*document, len(ids))
	for i, id := range ids {
		pending[i] = entryKey(id)
	}
	fields := []gcds.FieldPath{"kind", "last_used", gcds.FieldPath(gcds.DefaultRevisionField)}
	return s.writeUnraced(ctx, pending, fields, func(al *gcds.ActionList, _, c *document) bool {
		if c == nil || c.Kind != kindEntry || c.LastUsed >= now {
			return false
		}
		al.Update(&document{PK: c.PK, SK: c.SK, DocstoreRevision: c.DocstoreRevision}, gcds.Mods{"last_used": now})
		return true
	}, func(d *document, attempts int) error {
		return fmt.Errorf("last-used time of key %s: gave up after %d writes that lost a race with other writers", d.PK, attempts)
	})
}

// writeUnraced writes documents optimistically, in rounds: read what is
// stored of pending (the fields given, all when none), let plan add the
// write of each to one action list (or return false when it needs none),
// send the list, and start again with those whose write lost a race with
// another writer (a changed revision), after a backoff, at most
// maxAttempts times (then gaveUp says which).
func (s *MetadataStore) writeUnraced(ctx context.Context, pending []*document, fields []gcds.FieldPath,
	plan func(al *gcds.ActionList, want, stored *document) bool, gaveUp func(d *document, attempts int) error) error {
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt > 0 {
			if attempt == maxAttempts {
				return gaveUp(pending[0], attempt)
			}
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
		}
		cur, err := s.current(ctx, pending, fields...)
		if err != nil {
			return err
		}
		al := s.coll.Actions()
		var sent []*document
		for i, w := range pending {
			if plan(al, w, cur[i]) {
				sent = append(sent, w)
			}
		}
		if len(sent) == 0 {
			return nil
		}
		ok, err := do(ctx, al, len(sent))
		if err != nil {
			return err
		}
		pending = pending[:0:0]
		for i, w := range sent {
			if !ok[i] {
				pending = append(pending, w)
			}
		}
	}
	return nil
}

// appendHistory makes sure the run exists (begun at now if it was not),
// then creates one history document per records blob, under the next
// sequence numbers of the run. Create fails if another writer took a
// number; the store then skips past the largest number stored and tries
// again.
func (s *MetadataStore) appendHistory(ctx context.Context, run core.RunID, now int64, chunks [][]byte) error {
	if err := s.ensureRun(ctx, run, now); err != nil {
		return fmt.Errorf("run %s: %w", run, err)
	}
	for _, blob := range chunks {
		for attempt := 0; ; attempt++ {
			if attempt == maxAttempts {
				return fmt.Errorf("records of run %s: gave up after %d sequence numbers taken by other writers", run, attempt)
			}
			seq := s.takeSeq(run)
			d := &document{PK: batchPK(run), SK: seqKey(seq), Kind: kindBatch, Run: string(run), Seq: seq, Records: blob}
			err := s.coll.Create(ctx, d)
			if err == nil {
				break
			}
			if !isCode(err, gcerrors.AlreadyExists) {
				return fmt.Errorf("records of run %s: %w", run, err)
			}
			last, err := s.lastSeq(ctx, run)
			if err != nil {
				return fmt.Errorf("records of run %s: %w", run, err)
			}
			s.skipSeq(run, last+1)
		}
	}
	return nil
}

// takeSeq returns the next sequence number of run's history.
func (s *MetadataStore) takeSeq(run core.RunID) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.runs[run]
	if st == nil {
		st = &runState{nextSeq: 1}
		s.runs[run] = st
	}
	seq := st.nextSeq
	st.nextSeq++
	return seq
}

// skipSeq makes the next sequence number of run at least next.
func (s *MetadataStore) skipSeq(run core.RunID, next int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.runs[run]; st != nil {
		st.nextSeq = max(st.nextSeq, next)
	}
}
