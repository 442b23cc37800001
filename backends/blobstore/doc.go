// Package blobstore is the core.ResultStore of flowcache over any
// gocloud.dev/blob bucket: a directory (fileblob, used by package local),
// memory (memblob, used by package mem), and S3, GCS or Azure Blob Storage.
// It holds all the policy common to those backends — object naming, the
// verified object layout, conditional writes and aborting a failed write —
// so the backends themselves only open a bucket.
//
// # Object names
//
// A result with id {Version, Format} is stored under
//
//	<prefix><first 2 characters of Version>/<Version>.<Format>
//
// for example "results/3f/3fa9…c1.gob" with the prefix "results/". The
// two-character shard keeps directories of a file system small (at most 256
// entries at the top for hex versions). Versions may not contain '.', '/' or
// '\'; formats may not contain '/' or '\' and may not end in ".tmp" (fileblob
// writes its temporary files next to the final ones under
// "<name>.<hex>.tmp"), so a name parses back to exactly one id and Walk can
// tell results from temporary files.
//
// # Object layout (version 1)
//
// Every object is a header, the payload (the bytes the Format wrote) and a
// trailer. Integers are little-endian.
//
//	offset       size  field
//	0            8     magic "FCRESULT"
//	8            1     layout version, 1
//	9            1     checksum algorithm: 1 = CRC-32C (Castagnoli), 2 = SHA-256
//	10           2     v = length of the data version
//	12           2     f = length of the format name
//	14           v     data version (the id's Version)
//	14+v         f     format name (the id's Format)
//	14+v+f       n     payload
//	14+v+f+n     8     n, the payload length
//	22+v+f+n     c     checksum of every byte before it (c = 4 for CRC-32C,
//	                   stored little-endian; c = 32 for SHA-256)
//
// The payload length is not in the header, so a result is streamed to the
// bucket without knowing its size in advance; a reader finds where the
// payload ends from the object's size (blob.Reader.Size) and checks it
// against the trailer. The id in the header, covered by the checksum, binds
// an object to its name: an object stored or copied under another result's
// name is damage, found before any decoder runs.
//
// # Verification
//
// Get parses the header and returns a reader that streams the payload while
// computing the checksum. Every kind of damage — an object shorter than a
// header and trailer, a bad magic, an unknown layout version or checksum
// algorithm, a header naming another id, a length mismatch, a checksum
// mismatch — is reported as an error wrapping core.ErrCorrupt, from Get when
// the header is damaged and otherwise from Read at the latest when the
// payload ends, before io.EOF. A damaged result is therefore a miss, never a
// wrong value. Errors name the result id.
//
// Get suits copying; what decodes a result uses GetVerified
// (core.VerifiedGetter), which returns no reader before the whole object
// has passed these checks, so that no decoder ever trusts a length or count
// from bytes the checksum has not vouched for. A file of a directory bucket
// (package local) is verified to its end, then read again from its start
// through the same open file descriptor (from the page cache, hashed again,
// so a file changed in place between the passes fails at the end). An
// object of a remote bucket
// (S3, GCS, Azure) is spooled while it is hashed — in memory up to
// core.SpoolMemory (4 MiB; the object's size is known before reading), else
// to a temporary file (WithSpoolDir, os.TempDir() by default, unlinked at
// once on Unix) — and handed over from the spool once its checksum matched.
// Reading a result thus costs at most 4 MiB of memory besides what its
// decoder builds, whatever its size.
//
// # Checksum
//
// New objects use CRC-32C unless WithChecksum says otherwise; readers accept
// both algorithms, because the header names the one used. Measured on this
// machine class (BenchmarkChecksum, 1 MiB buffers): CRC-32C 23 GB/s
// (SSE4.2), SHA-256 1.8 GB/s (SHA-NI). The checksum guards against
// accidental damage — torn or truncated writes, bit flips, a file edited in
// place — not against an attacker, who could rewrite a SHA-256 as easily as a
// CRC, since there is no secret. For accidental damage CRC-32C detects every
// burst of up to 32 bits and misses random damage with probability 2^-32,
// while truncation and extension are caught by the length check; at 12 times
// the speed it keeps verification invisible next to decoding. SHA-256 stays
// available for users who want a cryptographic digest.
//
// # Writes
//
// Put is content-addressed and write-once. It streams header, payload and
// trailer, hashing as it goes, and holds the first MiB in memory: a result
// that fits is uploaded in one request with WriterOptions.IfNotExist and no
// existence check first (one request instead of two per small result); a
// larger one is checked for existence when it outgrows memory (write is then
// stopped if it is stored) and otherwise streamed into a blob writer opened
// with IfNotExist (the payload is never held in memory as a whole; S3, GCS
// and Azure writers upload large results in parts). If write fails, panics,
// or ctx is cancelled, the blob write is aborted by cancelling the writer's
// context before closing it, so nothing is stored. If the result was stored
// before, or by another writer meanwhile (IfNotExist is refused with
// FailedPrecondition), Put returns 0 and no error: both wrote the same
// content. A panic inside a driver's writer Close (gocloud.dev v0.47.0
// azureblob panics when an upload is refused) is recovered and turned into
// an error, or into success when the object exists afterwards.
//
// # Metadata in the bucket
//
// Metadata (NewMetadata; NewStores puts it under "<prefix>meta/" beside
// "<prefix>results/") is kept as small objects, each written whole in one
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
package blobstore
