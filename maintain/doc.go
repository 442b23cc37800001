// Package maintain keeps a flowcache cache — any pair of a
// core.MetadataStore and a core.ResultStore, or a store URL — in shape,
// while pipelines run on it or not: it counts what the cache holds,
// verifies every stored result, and evicts. Package inspect reads a cache
// (runs, nodes, why a node missed, logs); this package is the one that
// deletes. The flowcache command's size, verify and evict are a thin layer
// over it.
//
//	m, err := maintain.Open(ctx, ".flowcache")     // or New(meta, results)
//	defer m.Close()
//	usage, _ := m.Usage(ctx)                       // entries, results, bytes, unreferenced and dangling
//	rep, _ := m.Verify(ctx, progress)              // read and check every result, as a run would before decoding it
//	ev, _ := m.Evict(ctx, maintain.Policy{MaxSize: 10 << 30, GC: true})
//	tr, _ := m.Trim(ctx, maintain.Policy{MaxSize: 10 << 30}, 0) // Evict, at most once a day
//
// # Trimming
//
// Trim is Evict at most once per interval (a day by default), recorded by
// a marker file (trim.txt in a local cache directory), as Go's build cache
// trims itself: a program can call it each time it starts, and the cache
// stays within its limits without a scheduled `flowcache evict`. Calls
// within the interval cost reading the marker.
//
// # Verification
//
// Verify reads each result the way a run reads it before decoding it
// (core.GetVerified: all of it verified before any byte is looked at),
// then, when its format implements core.FormatValidator, hands the
// verified bytes to Validate, which checks the structure without the Go
// type: every length and count must fit in the bytes that remain, so a
// crafted object with a valid checksum (a hostile or buggy writer of a
// shared bucket) is reported, not found "fine" and left to crash a
// decoder. Formats are found by name with formats.Lookup (WithFormats);
// a result whose format this program does not register is
// ProblemUnverifiable: its checksum holds, its structure is unchecked.
// Code manifests are checked against the hash that names them. Each
// problem names the result, its format, the nodes whose entries point to
// it and the reason. In a local cache directory Verify also reports
// non-files at result paths and stale temporary files (core.DebrisFinder).
// Evict with Policy.Damaged deletes what Verify calls corrupt; with
// Policy.GC, the debris.
//
// # Eviction, and why it is safe while pipelines run
//
// Entries (cache key → data version) and results (data version → bytes)
// are deleted separately. Results are content-addressed: many entries may
// share one, and a result is deleted only when no remaining entry points to
// it. Policies: a total size of results (MaxSize), a number of entries
// (MaxEntries), an age since last use (OlderThan), each taking the least
// recently used entries first (LRU, by Entry.LastUsed), a garbage
// collection (GC) of the results no entry points to, of the entries whose
// result is gone and, in a local cache directory, of non-files at result
// paths and temporary files of killed writers, and the damaged results
// (Damaged, which reads every result as Verify does; the grace period does
// not protect a damaged result, which can only ever be a miss). A dry run
// lists what would go.
//
// Code manifests (entries of node core.CodeManifestNode) are selected by no
// policy: the manifest of a code version goes with the last entry of a node
// that has that version (EvictCodeUnused), so that it is not the first to
// go for never being used. MaxEntries counts the entries of nodes only;
// Usage counts manifests apart from the nodes.
//
// First, what can go wrong is bounded: deleting an entry or a result never
// makes a run produce a wrong value. A run that looks up a deleted entry
// misses and executes the node; a run that finds an entry but not its
// result (deleted after the run looked the entry up, or before) gets
// missing_result and executes the node again, exactly as for a damaged
// result. So eviction can only cost a run time, never correctness, whatever
// it deletes and whenever.
//
// Second, eviction does not cost a run in progress that time, by this
// rule: nothing stored or used within the grace period (Policy.Grace,
// DefaultGrace = 1 hour, settable, NoGrace to turn it off) is deleted:
//
//   - an entry is kept when it was created within the grace period, or
//     when its LastUsed is within the grace period plus
//     core.LastUsedResolution: the core refreshes LastUsed at most once an
//     hour (a hit writes it only when it is older than that, so that a warm
//     run is not a write per node), so an entry used a minute ago may show
//     a LastUsed of 59 minutes ago;
//   - a result is kept when it was stored within the grace period (or the
//     store cannot tell when): a run stores a result before the entry that
//     points to it, and writes its entries in batches (every 256 nodes or
//     second, and at its end), so a result may have no entry yet for a
//     while;
//   - and a result is kept while any entry points to it.
//
// Deletion is also guarded against the time between listing and deleting:
// an entry is deleted only if it still maps to the same result and was
// neither stored nor used since it was listed (core.EntryRemover does that
// atomically in the local, in-memory and document-database stores); and the entries are listed
// again just before results are deleted, so that a result an entry pointed
// to meanwhile (a run whose Put found the result already stored) is kept.
//
// Times come from different clocks: an entry's from the clock of the
// process that ran, a result's from the file system or the bucket, the
// grace period's from the clock of the process that evicts. Machines that
// share a bucket need clocks that agree to well within the grace period
// (NTP gives milliseconds): an evicting process whose clock is ahead of the
// others' deletes what they used more recently than it thinks; one whose
// clock is behind only keeps more.
//
// The rule covers runs shorter than the grace period. A run longer than
// that, which looked an entry up more than the grace period ago and loads
// its result only now, may find it evicted and execute the node again; set
// the grace period above your longest run. Run history is never evicted
// (it is small and what inspect.Cache.Why reads).
//
// Measured on the development machine (2 cores, ext4; go test -bench .):
// evicting 10,000 entries and their results from a local cache takes 0.6 s
// (listing and planning, i.e. a dry run, 0.17 s); Verify reads results of
// 1 MiB at 1.9 GB/s (files in the page cache, CRC-32C) and results of 1 KiB
// (inline in SQLite) at 70 MB/s, about 15 µs a result. Reading each file
// twice (verified, then read again for Validate) cost nothing measurable
// against the single pass before: BenchmarkVerify gave 0.85–1.15 GB/s and
// 8–33 MB/s for both, interleaved on the same machine while it was loaded
// by other work.
package maintain
