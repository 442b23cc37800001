// Package docstore keeps flowcache's metadata (cache entries, runs and run
// history) in a document database through gocloud.dev/docstore: DynamoDB,
// Firestore or MongoDB, so that a team shares one cache whose results stay
// in a bucket or a directory. It implements core.MetadataStore,
// core.Preloader, core.EntryWalker and core.EntryRemover (eviction deletes
// an entry only if no run stored or used it since it was listed); it keeps
// no results.
//
// Importing the package registers the metadata URL schemes dynamodb://,
// firestore:// and mongo:// (core.RegisterMetadataScheme). A store URL names
// one with its metadata parameter, query-escaped:
//
//	s3://bucket/cache?metadata=dynamodb%3A%2F%2Fflowcache%3Fregion%3Deu-west-1
//	file:///var/cache/flow?metadata=mongo%3A%2F%2Fci%2Fflowcache
//
// (url.QueryEscape("dynamodb://flowcache?region=eu-west-1"); a plain path
// takes the parameter too: ./cache?metadata=...). Open opens a metadata URL
// alone; New makes a MetadataStore on a collection opened some other way.
// Errors begin with "docstore:" and name the table or collection.
//
// # URLs and their parameters
//
// Unknown parameters are errors that name them; URLs and secrets never
// appear in errors except redacted by core.RedactURL.
//
// dynamodb://TABLE names a DynamoDB table, with the parameters:
//
//   - create_table=true: create the table, with its index and on-demand
//     billing, when it does not exist (see CreateDynamoDBTable); without
//     it a missing table is an error saying how to create it.
//   - allow_scans=true: accept a table without the node_key index; Preload
//     then scans the whole table (a hundred node names a scan).
//   - region, endpoint (e.g. http://127.0.0.1:4567 for a local server),
//     profile, role (an IAM role ARN to assume), fips, dualstack: the AWS
//     client, as gocloud.dev/aws reads them. Credentials come from the AWS
//     default chain (environment, shared config, instance role).
//
// firestore://projects/PROJECT/databases/(default)/documents/COLLECTION
// names a Firestore collection and takes no parameters. Credentials are
// Application Default Credentials, or none when FIRESTORE_EMULATOR_HOST
// names an emulator.
//
// mongo://DATABASE/COLLECTION names a MongoDB collection on the server of
// MONGO_SERVER_URL (mongodb://user:password@host:27017/..., as for
// gocloud.dev/docstore/mongodocstore; its credentials never appear in
// errors), with the parameter:
//
//   - create_indexes=false: do not create the indexes on pk and node_key
//     when the collection lacks them (for a user without the privilege;
//     queries then scan the collection).
//
// # Layout
//
// One URL names one collection (one DynamoDB table), so entries, runs and
// run history are three kinds of documents in it. Every document has a
// partition key pk, a sort key sk and a kind:
//
//	kind   pk                 sk                 other fields
//	entry  entry:<key id>     entry              node_key, node, code_version,
//	                                             deps [{name, version}],
//	                                             data_version, format,
//	                                             created, last_used
//	run    runs               <run key>          run, started
//	batch  run:<run key>      <sequence>         run, seq, records
//	lease  lease:<key id>     lease              run, host, pid, token,
//	                                             acquired, expires
//	lease  lease:<key id>     takeover:<token>   a claim to take that lease
//	                                             over (see Leases)
//
// The key id is the 64 hex digits of core.KeyID. The run key is the run id
// when it is 1 to 128 letters, digits, '.', '_' or '-' (UUIDs are), else
// "~" and its SHA-256 in hex; the run field holds the id itself. The
// sequence is a number of 20 digits, so that keys sort as numbers. Times are
// Unix nanoseconds (Firestore keeps microseconds, MongoDB milliseconds in
// their own time types; the contract keeps nanoseconds). records is a
// core.AppendRecords blob: the node records of one batch of a run, split over
// several documents when it exceeds 256 KiB (DynamoDB items are limited to
// 400 KB). node_key is the node name, or "sha256:<hex>" of a name longer
// than 256 bytes (index keys are limited to 2048 bytes on DynamoDB, 1500 on
// Firestore). Entries also hold docstore's revision, DocstoreRevision
// (Firestore uses the update time instead).
//
// On DynamoDB, pk and sk are the table's partition and sort keys. The other
// databases key a document by one id, DocumentID: pk and sk joined by "|"
// ("entry:ab12…|entry"). Why this shape:
//
//   - Get is a read of one document by key, and every entry is its own
//     partition, so DynamoDB spreads the load.
//   - Preload(nodes) queries node_key: "in" queries of 30 names on Firestore
//     (its limit) and 1000 on MongoDB, one equality query per node on
//     DynamoDB (an index answers only those), 32 at a time. It reads only
//     data_version, format and last_used.
//   - Runs is one query of the "runs" partition, sorted by started (then
//     run id) in the client: no index, and on DynamoDB a strongly consistent
//     query of one partition. Run is a read of the run document and a query
//     of its history partition, sorted by sequence, at once.
//   - No query orders on the server, so Firestore needs no composite index.
//
// The indexes: DynamoDB needs a global secondary index with partition key
// node_key (string) projecting data_version, format and last_used (or ALL);
// create_table=true creates the table with it, or:
//
//	aws dynamodb create-table --table-name flowcache --billing-mode PAY_PER_REQUEST \
//	  --attribute-definitions AttributeName=pk,AttributeType=S AttributeName=sk,AttributeType=S AttributeName=node_key,AttributeType=S \
//	  --key-schema AttributeName=pk,KeyType=HASH AttributeName=sk,KeyType=RANGE \
//	  --global-secondary-indexes 'IndexName=node_key,KeySchema=[{AttributeName=node_key,KeyType=HASH}],Projection={ProjectionType=INCLUDE,NonKeyAttributes=[data_version,format,last_used]}'
//
// Firestore's automatic single-field indexes serve every query (an index
// exemption for records and deps, which are never queried, saves index
// writes). On MongoDB the opener creates indexes on pk and node_key.
//
// # Concurrency
//
// A MetadataStore is safe for concurrent use by goroutines, and by processes on
// several machines sharing the collection; no write needs a lock or a
// transaction:
//
//   - An entry is read, then written only if it has not changed since:
//     Create when it was missing (which fails if another writer created it
//     meanwhile), Replace under its docstore revision otherwise (a
//     conditional write on DynamoDB, a precondition on Firestore, a filter
//     on MongoDB). A writer that loses the race reads and writes again.
//     This is how re-storing the same mapping keeps the earlier created
//     time even when two runs store it at once, and why writing a batch
//     twice writes nothing the second time.
//   - A hit moves last_used forward only: the entry is read and updated
//     under its revision when its last_used is earlier than the batch's
//     time, and left alone otherwise, so a slow run never moves it back.
//   - A run document is created once (Create); the first writer's started
//     time wins, as BeginRun of a known run is a no-op.
//   - A batch of history is created under the run's next sequence number;
//     if another writer took the number, the store skips past the largest
//     one stored and creates it again. A run's records read back in the
//     order they were written.
//
// # Leases
//
// MetadataStore is a core.Leaser (single-flight: processes and machines
// sharing the collection execute a node once). A lease is a document of
// its own, created with Create, which fails when it exists: of the owners
// acquiring a free key at once, one does (1 round trip; 2 when the key is
// held: the Create and a Get). Renewal is a Get and a Replace under the
// revision read (2); release a Get and a Delete under that revision (2;
// docstore deletes conditionally on every database), so a lease taken over
// in between is neither renewed nor deleted. An expired lease is taken
// over by the owner that first creates the claim document
// "takeover:<token>" of that lease, which then replaces the lease under
// its revision and deletes the claim (5 round trips): a Replace under a
// revision alone is atomic on DynamoDB, Firestore and MongoDB, but not on
// FerretDB, where the tests saw several owners replace one revision at
// once. A claimant that dies leaves its claim, which the next taker
// deletes after 10 s.
//
// Expiry is judged by wall clocks: the holder writes its expires by its
// clock, a taker compares it with its own and takes over only from
// expires plus core.LeaseClockMargin (2 s). A holder killed leaves its
// lease document until then. A document that is not a lease where a lease
// should be reads as a released lease (a lease never stands for a result:
// at worst two owners execute a node). DeleteAll deletes leases too.
//
// # Atomicity
//
// A batch is checked whole before anything is written: an invalid batch
// (an entry without node, data version or format, records without run id,
// names that are not UTF-8) is an error wrapping core.ErrInvalid and
// nothing of it is written. Beyond that a Write is not atomic: the servers
// tested here have no multi-document transactions (dynalite has no
// TransactWriteItems, FerretDB and a standalone MongoDB none at all), and
// DynamoDB's are limited to 100 items while a batch holds 256 entries and
// more. Every document is written whole, in one request, and is valid on
// its own, so an error or a crash part way through a batch leaves some of
// its entries, last-used times, run document and history documents
// written and the rest not, never a torn or invalid document. The cache
// reads only entries, so what it can see is an entry without its run
// record (the run's history lacks a node) or a record without its entry
// (the node executes again next time); an entry always points at a result
// stored before it, since the cache flushes results before metadata.
// Writing the batch again completes it (the history may then hold those
// records twice).
//
// Reads of entries and history are strongly consistent on every server.
// Preload on DynamoDB reads the index, which is eventually consistent: an
// entry stored a moment ago may be missing (an execution, which the cache
// checks with Get once its preloaded entries are two seconds old), or a
// replaced one show its previous mapping for as long, a result that key
// had a moment before.
//
// # Limits
//
// Entry names, versions and formats and run ids are kept as strings and
// must be valid UTF-8 (a batch with one that is not is invalid); node
// records are bytes and may hold anything. An entry whose key parts exceed
// the database's document limit (400 KB on DynamoDB) cannot be stored.
// DeleteAll deletes document by document and is not atomic. On MongoDB,
// Get reads with the driver by _id, as FerretDB's SQLite handler answers
// mongodocstore's {_id: {$in: …}} with a scan of the collection; its other
// queries (Preload, and the read before a batch's writes) still scan there,
// which suits tests, not a large cache (MongoDB itself uses its indexes).
//
// # Cost
//
// Round trips: Get 1; Preload one query per NodesPerQuery names, 32 at
// once; Write, concurrently, 2 for its entries (a batched read, then a
// write per document, issued together), 2 for its hits and 1 for its
// history (2 for a run the store has not seen), plus 2 per lost race; Runs
// 1; Run 1. Measured here (BenchmarkServers, one local server each on a
// 2-core VM, 1000 entries stored, ranges of two runs):
//
//	                      Get          Preload of 1000 nodes   Write of 256 entries
//	DynamoDB (dynalite)   0.6–0.9 ms   0.70–0.77 s             0.27–0.35 s
//	Firestore (emulator)  0.8–1.4 ms   6.7–6.8 s               0.23–0.44 s
//	MongoDB (FerretDB)    5 ms         0.22–0.24 s             0.44–0.77 s
//
// These servers are stand-ins: dynalite is single-threaded; the Firestore
// emulator evaluates queries by scanning, an "in" of 30 names in 140 ms
// against 13 ms for one; FerretDB's SQLite handler scans the collection for
// every query but an _id lookup, and writes through SQLite. On the managed
// services the queries are index lookups.
package docstore
