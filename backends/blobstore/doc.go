// Package blobstore keeps flowcache results in any gocloud.dev/blob bucket:
// ResultStore is the core.ResultStore of a directory (fileblob, used by
// package local for results too large to be inlined), memory (memblob,
// package mem), and S3, GCS or Azure Blob Storage (package bucket, which
// puts it beside the metadata store of package blobmeta). It holds all the
// policy common to those backends — object naming, the verified object
// layout, write-once uploads and aborting a failed write — so the backends
// themselves only open a bucket. It also keeps the event logs of runs
// (OpenLog, ReadLog), beside the results.
//
// Errors begin with the name of the package the user opened the cache
// with (WithName: "local", "mem", "s3"), "blobstore" by default.
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
// # Requests
//
// What a cache on a bucket (package bucket: these results beside the
// metadata of package blobmeta) sends, and what each request is for.
// Measured with TestColdRequestsPerNode and BenchmarkWarm in package s3 (a
// 1001-node pipeline on MinIO, through a counting proxy).
//
// A cold node (executed, its result stored):
//
//	PUT results/<shard>/<version>.<format>   the result, IfNotExist, in one request
//	                                          under 1 MiB (a HEAD first above that,
//	                                          then a multipart upload)
//	PUT meta/entries/<key id>                 its entry, for Get by key
//
// A batch (the driver writes the entries of many nodes at once):
//
//	PUT meta/batches/<time>-<writer>          the batch's entries, for Preload
//	GET, PUT meta/heads                       the pending batches of each node it
//	                                          touched (conditional: If-Match or the
//	                                          generation; retried on a conflict)
//	PUT meta/history/<run id>/…               the run's records of those nodes
//	GET, PUT meta/nodes/<node>, GET batches   only to fold a node with more than 8
//	                                          pending batches (blobmeta's package doc)
//
// A run: PUT meta/runs/<run id> (IfNotExist) when it first writes, the
// Preload below, and PUT meta/snapshots/<set> in the background when the
// Preload or the run's batches changed what the snapshot holds.
//
// A warm run (every node retrieved):
//
//	GET meta/snapshots/<set>, GET meta/heads  the Preload, sent together: every
//	                                          entry of the pipeline's nodes
//	GET results/…                             each result the run needs (outputs,
//	                                          and the inputs of nodes it executes)
//
// The first Preload after other writers also reads the batch objects they
// added (one GET per batch, whatever number of nodes it holds) and the
// indexes of nodes folded since; the first Preload of a new set of nodes
// lists meta/nodes/ (a request per thousand). A key the Preload does not
// know is looked up with GET meta/entries/<key id> and meta/used/<key id>
// at once; a hit writes PUT meta/used/<key id> at most hourly per key.
package blobstore
