// Package blobmeta keeps flowcache metadata in any gocloud.dev/blob bucket:
// MetadataStore is a core.MetadataStore (with core.Preloader,
// core.EntryWalker, core.EntryRemover and core.Leaser) that needs nothing but the
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
//	meta/batches/<time>-<writer> the new entries of one Write, of all its nodes
//	meta/heads                   every node's head: its index's tag and the batch
//	                             objects not yet folded into its index (see Preload)
//	meta/tags                    the tags of the previous layout (read by older writers only)
//	meta/runs/<run id>           a run and its start time (written with IfNotExist)
//	meta/history/<run id>/<time>-<seq>-<writer>   one batch of the run's records
//	meta/snapshots/<hash of a node set>  a preload snapshot: the indexes of a pipeline's nodes
//	meta/leases/<key id>         the lease of a key being executed (see Leases)
//
// Names that are not plain ([A-Za-z0-9_-], up to 128 bytes) are replaced by
// "~" and their SHA-256; the objects keep the original.
//
// # Concurrent writers
//
// Processes on many machines may share one bucket, and a Preload returns
// every entry whose Write returned before it was called, whichever
// process, machine or pipeline (set of nodes) wrote it. Two objects are
// read-modify-written, a node's index and the heads object, and both are
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
// wins; an entry is created with IfNotExist, and only when it exists read
// and rewritten, keeping its created time if it maps the key to the same
// result). Two writers of one key both map it to a valid result of the same
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
// head it had then, and the heads object, which holds the current head of
// every node in the bucket: its index's tag (below) and the batch objects
// written since the index was last rewritten (its pending batches). A node
// whose head has not changed is taken from the snapshot; a node whose tag
// is the same but which has new pending batches gets the entries of those
// batches for it; any other node's index is read, with all its pending
// batches. A batch object is read once however many nodes name it, so a
// cold run's 1001 nodes, written in about 20 batches, cost its successor
// about 20 reads, once; the snapshot is then rewritten, and a warm run of a
// 1000-node pipeline costs two reads, sent together, not one per node. The
// first Preload of a set lists the node indexes (a request per thousand)
// and reads those of its nodes that exist.
//
// Batches. A Write writes the entry object of every new entry and one
// batch object holding them all (node, key id, data version, format,
// times), at once, and then adds the batch to the pending list of every
// node it touched, in one conditional rewrite of the heads object. The
// node indexes are not read or written: an entry costs its entry object
// only. A node whose pending list grows past 8 batches is folded: its
// writer reads the index and the pending batches it does not hold,
// applies them in order, rewrites the index conditionally and then, in
// the heads, gives the node the index's new tag and removes the batches
// it folded (those added meanwhile stay). The last fold that removes a
// batch from every node deletes the batch object. A Preload that finds a
// batch object deleted reads the node's index instead, which holds it:
// the index is rewritten before the heads, and the batch deleted after
// them. Two concurrent folds of a node both write an index holding the
// same batches; the heads keep whichever is last, tagged as below. A
// missing or damaged heads object is rebuilt from a listing of the batch
// objects (each read once): the tags are lost, so snapshots are read
// again, the pending batches are not; a new bucket pays that listing until
// its first batch creates the heads.
//
// Tags. A writer tags every index it rewrote once the index is written: a
// tag is the MD5 of the index's bytes ("clean") when the tag it replaces
// is the MD5 of the index this writer replaced, else a random token
// ("dirty": another writer rewrote the index in between and tagged it
// first, so this writer does not know what the index holds). A snapshot
// node carries the head read before its index and batches were read (the
// index is then at least as new as the tag says), or, for a writer's own
// snapshot, the clean tag of what it wrote. Every index rewrite is
// followed by a tag change and every batch by a pending-list change, so a
// snapshot node whose head is still current holds every entry whose Write
// returned. A Preload that reads an index whose tag is not the MD5 of what
// it read retags it clean (conditionally on the heads being as it read
// them), so that dirty tags do not stay dirty. A clean tag names one state
// of an index as long as the index never returns to earlier bytes; it can
// only by losing a key just added (whatever is added carries fresh
// nanosecond times), and then a snapshot may keep the removed key: its
// lookup finds the result, or misses if the result was deleted too, never
// a wrong one.
//
// Why this design. The snapshot used to be trusted as complete, and every
// process rewrote it with its own view. In TestSharedBucketKeepsHits (8
// processes × 50 runs on one MinIO bucket, each run over 6 of 120 items)
// the runs executed 1474 to 1635 per-item nodes where 240 would do, and a
// run after them all executed 5 to 10 items again; with tags they execute
// 290 to 305 (processes computing one item at the same moment) and the run
// after them none. A snapshot merged by conditional writes would stay
// complete only for the set of nodes of its writer: a pipeline run with
// other outputs, or another pipeline sharing nodes, has a snapshot of its
// own that the writer does not know of. Treating the snapshot as a hint
// and reading an entry for every miss costs a round trip per cold node, on
// the node's path. Validating the snapshot against a listing of the node
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
// Why batch objects. With tags, a cold node still cost 4 requests: its
// result, its entry, and the read and conditional rewrite of its node's
// index (TestColdRequestsPerNode in package s3, 2026-12-04: 4079 requests
// for 1001 nodes, 1031 GET, 3046 PUT, 2 LIST, in about 20 batches; 3.3 ms
// a node on an idle MinIO). The index read-modify-write was there for
// Preload alone; the heads object, rewritten once per batch anyway, can
// say where a node's newer entries are instead, and one batch object holds
// those of every node of the batch. Entries must stay objects of their own:
// Get (a lookup the preload cannot answer, RemoveEntries' check) reads a
// key without knowing its node or batch. Pending entries could have been
// kept in the heads object itself, saving the batch reads of the next
// Preload, but every Preload reads the heads and every batch rewrites it:
// 100 bytes an entry against 2 or so a pending batch (the heads name each
// batch once, and a node's pending batches by position). Measured on
// MinIO, the same hour, before and after: a cold 1001-node run (BenchmarkWarm
// Cold1000) sends 2044 requests (2027 PUT, 13 GET, 4 LIST) in 3.9 s, where
// it sent 4055 (3033 PUT, 1020 GET, 2 LIST) in 8.8 s; a warm Preload is
// still 2 reads and a warm run 9 requests. Its cost falls on buckets
// shared by busy writers: a Preload reads the batches written since its
// snapshot, one per batch where it read one index per node changed, and a
// fold deletes the batches it folded. In TestSharedBucketKeepsHits the
// runs executed 302 per-item nodes (290 before, 240 at least; the range
// was 290 to 305) and none after them all, and sent 13,483 requests
// (7564 GET, 5117 PUT, 392 DELETE, each with a HEAD) where they sent
// 10,317 (5278 GET, 5030 PUT).
//
// Exceptions. A writer that dies between writing an index and the heads
// (a crash, a lost connection), or between writing a batch object and the
// heads, leaves a change that no head announces: the entry is found by Get
// but not by Preloads through snapshots made before, until the node's
// index is written again (its next miss stores it again, finding the
// result already stored). A Write that has not returned may or may not be
// seen. Delete and RemoveEntries fold the node (as above, removing the
// keys in the same rewrite), so a deleted entry is not preloaded again,
// from the index or from a pending batch.
//
// Older writers. A bucket written by the previous layout (indexes and
// meta/tags, no heads or batches) is read as it is: its nodes have no head,
// so the first Preload of each set reads their indexes, and the first
// fold of a node starts from its index. An older flowcache sharing the
// bucket with this one does not read the heads: entries this one writes
// reach its Preloads once folded into an index and only when its snapshot
// does not hold the node (else they are found by its Get, a miss at
// worst); the indexes it rewrites and tags in meta/tags are seen by this
// one's Preloads without a snapshot of the node, otherwise only by Get.
// Processes sharing a bucket should be upgraded together; in between a
// mixed pair costs misses, never wrong values.
//
// Requests. A cold node costs the upload of its result (one conditional
// request under 1 MiB; an existence check first above that) and of its
// entry (one conditional request; a read and a rewrite when the key had
// an entry already, as when a result is recomputed). A batch also writes its batch object, reads and rewrites the
// heads, writes its run records (one object per batch of up to 256), and
// folds the nodes whose pending list it made too long (for each, the
// index's read and rewrite and the reads of the pending batches that
// writer did not write); its writer's snapshot is rewritten in the
// background (a burst of batches is one or two writes; Close waits for
// it). A warm Preload is the two reads above; a lookup the preload cannot
// answer reads the entry and its last-used time at once; a hit writes the
// key's last-used time at most hourly, and then its node is folded.
//
// # Leases
//
// MetadataStore is a core.Leaser (single-flight: processes and machines
// sharing the bucket execute a node once). A lease is the object
// meta/leases/<key id>: owner (run, host, pid), a random token, acquired
// and expiry times, sealed like every metadata object.
//
//   - Acquire: one conditional create (IfNotExist: S3 and Azure
//     If-None-Match: *, GCS ifGenerationMatch=0) when the key is free.
//     When the object exists, a read: a lease not expired is returned as
//     held; an expired or released one is replaced by a conditional rewrite
//     (If-Match on the ETag, the generation), so of the owners taking over
//     one lease at once, one succeeds. 1 request for a free key, 2 for a
//     held one, 3 to take one over.
//   - Renew: a read and a conditional rewrite (2 requests).
//   - Release: a read and a delete (2 requests); a lease with less than
//     releaseDeleteAfter (14 s) left is rewritten conditionally into a
//     released lease instead, since a bucket has no conditional delete and
//     such a lease could be taken over between the read and the delete;
//     the next acquirer of the key then pays 3 requests.
//
// Expiry is judged by wall clocks: the holder writes its Expires by its
// clock, a taker compares it with its own and takes over only from
// Expires plus core.LeaseClockMargin (2 s), which bounds the difference of
// the machines' clocks. A holder killed (kill -9, a lost machine) leaves
// its lease object: it blocks the others until then, and the next
// acquirer replaces it. A damaged lease object reads as released (a lease
// never stands for a result: at worst two owners execute a node).
//
// The guarantees hold where the service honours both conditions: S3 (and
// MinIO, gofakes3), GCS (and fake-gcs-server), Azure Blob (and Azurite),
// checked by TestSharedLeases in packages s3, gcs and azure with stores of
// their own on one bucket. A bucket without a registered Conditional
// (memblob, fileblob) serializes the lease calls of a store in the process
// and takes over expired leases with blind writes: exclusive within one
// store; across processes on fileblob, whose IfNotExist is a check then a
// rename, not at all: two processes may both acquire a key and execute a
// node twice (never a wrong value).
//
// Atomicity. A batch is validated before anything is written (an invalid
// batch writes nothing) and written entries and batch object first, heads
// next, records last; a crash part way can leave part of a batch written,
// each object valid on its own and every missing part a cache miss.
package blobmeta
