// Package core is the caching layer of flowcache: the interfaces stores and
// formats implement, typed versions and keys, behaviours, events, and the
// cache adapter that decides, node by node, whether a result is retrieved
// or the node executed. It holds no storage, cloud or format code; package
// driver is the reference executor that drives it, and any other executor
// can drive it the same way (Cache.BeginRun, Run.Input, Run.Node,
// Run.Final, Run.End; Cache.Prefetch and Cache.BeginRunFrom to read a
// run's entries ahead of it, Run.LookAhead and Prefetch.LookAhead to have
// its keys worked out ahead of the executor, on another core).
//
// # The model
//
// The cache key of a node (CacheKey) is its name, its code version
// (CodeVersion, see package codeversion) and the data versions of its
// dependencies (DataVersion, fingerprints of values, see package
// fingerprint). The MetadataStore maps a key's hash (KeyID) to the data
// version of the result, and keeps run history; the ResultStore maps a data
// version and a format (ResultID) to the encoded result, content-addressed:
// many keys may share one result. The parts of every key are kept, so a
// run's dependency graph can be rebuilt from metadata alone.
//
// A run passes data versions, not data, through the graph: a retrieved
// node's Value is loaded from the result store only when a node that must
// execute, or a requested output, calls Value.Get. A result that is missing
// or fails verification is a miss: the node is executed again, its result
// stored again, and the run succeeds with the right value. Verification
// comes before decoding: a result is opened with GetVerified, which hands
// the Format's Decode no byte before all of the result has passed the
// store's checksum (a local file is verified and then read again, a bucket
// object spooled while hashed, in memory up to SpoolMemory and on disk
// beyond), so a damaged result never reaches a decoder. Verification covers
// the value too: a loaded value is fingerprinted, and one whose fingerprint
// is not the data version it was stored under (a result stored under
// another value's id, a format that does not keep some detail of it, or a
// result from an older fingerprint scheme) is such a miss, and the result
// is deleted: never a value other than the one its dependants were keyed
// by.
//
// # Behaviours
//
// Default retrieves or executes and stores; Recompute always executes and
// stores, replacing the mapping; Disable executes, stores nothing, and gives
// dependants a unique version (they execute too); Ignore executes, stores
// nothing, and gives dependants a constant version (they can still be
// retrieved). BehaviorConfig.Resolve applies the build-level lists, which
// win over a node's own behaviour; a node's role (RoleLoader, RoleSaver)
// picks its default when nothing else does (BehaviorConfig.ResolveRoles,
// Hamilton's default_loader_behavior and default_saver_behavior).
//
// # Events
//
// Every decision is an Event, kept in memory per run (Cache.Logs by run id,
// Cache.NodeLogs by node, Cache.Events), emitted to a log/slog logger (WithLogger; cache faults at
// Warn, get_result, execute_node and failures at Info, the rest at Debug;
// without WithLogger, Warn and above go to slog.Default() and the rest is
// discarded), and
// optionally appended as JSON lines as it happens: to a file (WithLogFile),
// or to the run's own log in the stores (WithRunLogs, for every backend:
// a file per run in a local cache directory, an object per run in a
// bucket, memory), which ReadRunLog reads back in any process. Per
// node, a run emits resolve_behavior, then get_cache_key and
// get_data_version (hit or miss); a hit is get_result::hit; a miss is
// get_result::miss, execute_node, set_data_version (or
// unhashable_data_version), set_result and set_cache_key; loading a
// retrieved value is result_store::get_result::loaded, and a damaged one
// get_result::miss and missing_result. Inputs and overrides emit is_input
// and is_override, requested outputs is_final_var. The messages are
// EventMessage constants (MessageHit, MessageMiss, MessageLoaded,
// MessageStored, MessageExists, ...). What each node came to is also kept
// without events: Run.Outcomes, and the run history (MetadataStore.Run).
//
// # Code manifests
//
// So that a tool can say what changed in a node's code, not only that its
// code version did, an executor may describe each code version
// (NodeSpec.Manifest, a CodeManifest: the parts codeversion.Explain lists,
// the result type, the state). A run stores the manifest of a version when
// it executes a node of that version and neither the Cache nor the metadata
// store knows one: the manifests it describes together in one result
// (content-addressed, format json), each mapped by an entry of the reserved
// node CodeManifestNode ("@code"), so every store keeps them;
// ReadCodeManifest reads one back, verified. During the run it only looks
// manifests up (not even that when its preload found no entry of its
// nodes: a new cache); it describes the missing ones at End, after the
// nodes' metadata is written, waiting at most WithManifestWait for each
// description (DefaultManifestWait, 5 ms: enough where the module is parsed
// already, not for parsing it).
//
// # Writes
//
// Metadata is written in batches (WithFlush: 256 records or one second by
// default, and at the end of a run), one transaction each, not a commit per
// node.
//
// # Cache faults
//
// No cache fault fails a run; only a node's error or a cancelled context
// does. A store that cannot record the run (a full disk, a read-only cache
// directory: ErrReadOnly, stores that could not be opened: Unavailable)
// makes BeginRun return a run that stores nothing and serves the hits it
// can read; a metadata lookup that fails executes the node; a result or a
// metadata batch that cannot be written is not stored (a batch whose
// results could not be flushed is written without its entries, so none
// points to a missing result), and the run goes on. Each part of the cache
// that fails is said once per run, however many nodes it affects: a
// cache_fault event at slog.LevelWarn whose message says what the run does
// without that part and how to fix the cause where it is known, and whose
// value is the error (Run.Faults lists them); the per-node
// failed_store_write events stay at Info. A part that failed more than once
// is summed up when the run ends, in one cache_fault_summary event at
// slog.LevelWarn: how many failures, for which nodes, the first error and
// the fix. A value its node's format cannot encode (a time not in UTC in
// Parquet) is a fault of its own, told from a store that refused bytes.
// The run's values are
// right either way; what was not stored is computed again by a later run.
// Names that are not valid UTF-8 are refused by Run.Node and Run.Expand
// (CheckName): they would not survive the stores' text encodings.
//
// # Stores
//
// A store implements MetadataStore or ResultStore, whose contracts are in
// their doc comments; package conformance holds the suites every store
// passes (a store written outside this module runs them from its own tests
// with a few lines). Errors wrap ErrNotFound, ErrCorrupt, ErrClosed,
// ErrInvalid or ErrUnsupportedType; test them with errors.Is.
//
// What core checks for every store: New calls its stores through
// CheckMetadata and CheckResults (package inspect too; anyone calling a
// store directly can), which refuse a call that breaks the contract before
// the store sees it, with an error wrapping ErrInvalid that names what is
// wrong: an invalid batch (Batch.Validate), key id (KeyID.Validate), run id
// (RunID.Validate) or result id (ResultID.Validate: ids that would be
// ambiguous or unsafe as file or object names).
//
// What a store must guarantee itself, because only it can:
//
//   - Atomicity: a metadata batch is all or nothing (or, where the storage
//     has no transactions, every document or object written is whole and
//     a missing part is a miss); a result is seen whole or not at all.
//   - Verification: a torn, truncated or altered result never reads back
//     as valid bytes (ErrCorrupt), nor a result stored under another id.
//   - Durability as it documents it, and conditional writes where several
//     processes or machines share the storage: a result already stored is
//     kept (Put returns 0), an entry replaced or used since it was listed
//     is not removed (EntryRemover).
//   - The rules of MetadataStore.Write, applied with the exported helpers
//     (Batch.Validate, Batch.Time, Entry.TimesAt, RunInfo.StartTime,
//     NodeRecord.StoredKey), so that a store used directly refuses what
//     CheckMetadata refuses and keeps the same times.
//   - Its closed state: after Close, every method, capabilities included,
//     returns an error wrapping ErrClosed (see CheckMetadata for why this
//     is left to the store).
//   - Safety for concurrent use by several goroutines.
//
// Optional interfaces add capabilities (VerifiedGetter, EntryWalker,
// Preloader, IndexPreloader, ResultFlusher, BufferedPutter, RunEnder,
// LogStore, ResultWalker, EntryRemover, ResultRemover, DebrisFinder,
// Leaser: see As for who implements and uses each).
// They are looked up with As, never with a plain type assertion, so that a
// store wrapped for metrics or tracing keeps them: a wrapper implements the
// base interface and an Unwrap method (MetadataWrapper, ResultWrapper), and
// As follows the chain to the store that has the capability.
//
// # Stores by URL
//
// OpenURL opens a metadata store and a result store from one URL: a plain
// path or file:///abs/path (backends/local), mem://name (backends/mem), and
// the schemes other backends register with RegisterScheme when imported.
// ParseStoreURL is the one place that works out which store a string names
// (a plain path may end in a query: "./cache?metadata=…"); the driver,
// package inspect and the flowcache command all go through it, so they open
// the same store from the same string. Unknown query parameters are errors
// naming them (CheckQueryParams). Some parameters are core's, taken out
// before the backend sees the URL, so any scheme accepts them: metadata=
// keeps the metadata in another store (MetadataParam), lease_ttl= turns on
// leases for whoever executes on the cache (LeaseTTLParam, see WithLeases
// and Stores.LeaseTTL), local_cache= and local_cache_max= put a local
// directory in front of the results (LocalCacheParam, RegisterTier).
// Secrets in a URL never appear in an error:
// every URL printed goes through Redact, which hides passwords, secret
// query parameters and the values of unknown ones, also inside URL-valued
// parameters, connection strings and a plain path's query, and RedactError
// takes them out of what a backend or SDK says.
package core
