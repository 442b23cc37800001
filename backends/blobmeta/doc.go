// Package blobmeta keeps flowcache metadata in any gocloud.dev/blob bucket:
// MetadataStore is a core.MetadataStore (with core.Preloader,
// core.EntryWalker and core.EntryRemover) that needs nothing but the
// bucket, so that a bare bucket is a complete cache many machines can
// share. Package bucket puts it under "<prefix>meta/", beside the results
// of package blobstore under "<prefix>results/"; packages s3, gcs and azure
// open that pair from a URL.
//
// Errors begin with the name of the package the user opened the cache
// with (WithName: "s3", "gcs", "azure"), "blobmeta" by default.
//
// # Objects
//
// Metadata is kept as small objects, each written whole in one
// request, which every bucket service makes atomic: a reader sees the old
// object or the new one, never a mix. Each object is sealed (magic, codec
// version, kind, payload, CRC-32C), so a torn or altered object is detected
// and read as missing — a cache miss, never a wrong mapping.
//
//	meta/entries/<key id>        one cache entry: key parts, data version, format, created
//	meta/used/<key id>           its last-used time (written by hits, at most hourly per key)
//	meta/nodes/<hash of node>    the node's index: key id → data version, format, times
//	meta/tags                    every node index's tag (see Preload below)
//	meta/runs/<run id>           a run and its start time (written with IfNotExist)
//	meta/history/<run id>/<time>-<seq>-<writer>   one batch of the run's records
//	meta/snapshots/<hash of a node set>  a preload snapshot: the indexes of a pipeline's nodes
//
// Names that are not plain ([A-Za-z0-9_-], up to 128 bytes) are replaced by
// "~" and their SHA-256; the objects keep the original.
//
// # Concurrent writers
//
// Processes on many machines may share one bucket, and a Preload returns
// every entry whose Write returned before it was called, whichever
// process, machine or pipeline (set of nodes) wrote it. Two objects are
// read-modify-written, a node's index and the tags object, and both are
// rewritten only if they are still the version read (S3 and Azure:
// If-Match on the ETag; GCS: the generation), else read again, changed
// again and retried (up to 64 times, with random backoff). Packages s3,
// gcs and azure register that conditional overwrite (RegisterConditional);
// a bucket without one (memblob, fileblob) rewrites them blind, which is
// safe within one process only: share such a bucket between processes and
// concurrent writers may lose keys from an index (a cache miss, never a
// wrong value). On S3-compatible servers, check that If-Match is honoured
// (MinIO and gofakes3 do): a server that ignores it makes rewrites blind.
//
// Entries, last-used times and run records are written blind (last writer
// wins). Two writers of one key both map it to a valid result of the same
// code and inputs, so either outcome is correct; run records never collide
// (every batch is its own object). A last-used time is only ever moved
// forward by one writer; two concurrent hits may leave the earlier of two
// recent times, which only matters to eviction, by seconds. An index can
// name a mapping that a concurrent Recompute replaced a moment ago; that
// older result is still a correct result of the same key.
//
// # Preload
//
// Preload(nodes) reads two objects at once: the snapshot of that set of
// nodes, which holds their indexes as last read or written, each with the
// tag it had then, and the tags object, which holds the current tag of
// every node index in the bucket (34 bytes a node). A node whose tag has
// not changed is taken from the snapshot; any other node's index is read,
// and the snapshot is rewritten. A warm run of a 1000-node pipeline so
// costs two reads, sent together, not one per node. The first Preload of
// a set lists the node indexes (a request per thousand) and reads those of
// its nodes that exist.
//
// Tags. A writer tags every index it rewrote once the index is written: a
// tag is the MD5 of the index's bytes ("clean") when the tag it replaces
// is the MD5 of the index this writer replaced, else a random token
// ("dirty": another writer rewrote the index in between and tagged it
// first, so this writer does not know what the index holds). A snapshot
// node carries the tag read before its index was read (the index is then
// at least as new as the tag says), or, for a writer's own snapshot, the
// clean tag of what it wrote. Every index rewrite is followed by a tag
// change, so a snapshot node whose tag is still current holds every entry
// whose Write returned. A Preload that reads an index whose tag is not the
// MD5 of what it read retags it clean (conditionally on the tags being as
// it read them), so that dirty tags do not stay dirty. A clean tag names
// one state of an index as long as the index never returns to earlier
// bytes; it can only by losing a key just added (whatever is added carries
// fresh nanosecond times), and then a snapshot may keep the removed key:
// its lookup finds the result, or misses if the result was deleted too,
// never a wrong one.
//
// Why this design. The snapshot used to be trusted as complete, and every
// process rewrote it with its own view. In TestSharedBucketKeepsHits (8
// processes × 50 runs on one MinIO bucket, each run over 6 of 120 items)
// the runs executed 1474 to 1635 per-item nodes where 240 would do, and a
// run after them all executed 5 to 10 items again; now they execute 290 to
// 305 (processes computing one item at the same moment) and the run after
// them none. A snapshot merged by conditional writes would stay complete
// only for the set of nodes of its writer: a pipeline run with other
// outputs, or another pipeline sharing nodes, has a snapshot of its own
// that the writer does not know of. Treating the snapshot as a hint and
// reading an entry for every miss costs a round trip per cold node, on the
// node's path. Validating the snapshot against a listing of the node
// indexes is complete, but listing 1000 objects took 65 ms on MinIO
// against 3 to 6 ms for a read, and doubled a warm run. The tags object is
// that listing kept by the writers: one small read, in parallel with the
// snapshot's, and one conditional rewrite per batch that changes an index.
// Measured on MinIO (BenchmarkWarm in package s3, a 1001-node pipeline): a
// warm Preload is 2 reads (was 1), a warm run 9 requests (was 8) in the
// same time, a cold run 4060 requests (was 4047). Its cost is that every
// writer of the bucket rewrites one object: concurrent batches retry,
// which the conditional write makes safe; in the 8-process test the runs
// sent 10,162 requests where they sent 9,083.
//
// Exceptions. A writer that dies between writing an index and its tag
// (a crash, a lost connection) leaves a change that no tag announces: the
// entry is found by Get but not by Preloads through snapshots made
// before, until the node's index is written again (its next miss stores
// it again, finding the result already stored). A writer of an older
// flowcache that does not tag is not seen either. A Write that has not
// returned may or may not be seen. Delete and RemoveEntries rewrite the
// indexes and tags the same way, so a deleted entry is not preloaded
// again.
//
// Requests. A cold node costs the upload of its result (one conditional
// request under 1 MiB; an existence check first above that), its entry,
// and the read and conditional write of its node's index (once per batch
// for every node in it); a batch also reads and rewrites the tags, and its
// writer's snapshot is rewritten in the background (a burst of batches is
// one or two writes; Close waits for it). A warm Preload is the two reads
// above; a lookup the preload cannot answer reads the entry and its
// last-used time at once; a run's records are one object per batch of up
// to 256.
//
// Atomicity. A batch is validated before anything is written (an invalid
// batch writes nothing) and written entries first, indexes next, tags
// then, records last; a crash part way can leave part of a batch written,
// each object valid on its own and every missing part a cache miss.
package blobmeta
