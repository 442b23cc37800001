package docstore

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	gcds "gocloud.dev/docstore"

	"github.com/flowcache/flowcache/core"
)

// The fields every document has, whatever its kind. PartitionKey and
// SortKey are the two key fields of the DynamoDB table; collections with a
// single key field (Firestore, MongoDB, memdocstore) key documents by
// DocumentID, which joins them.
const (
	PartitionKey = "pk"
	SortKey      = "sk"
	// NodeKeyField holds, in entry documents only, the node name (or a
	// hash of a long one): Preload queries it. On DynamoDB a global
	// secondary index with this partition key serves those queries (see
	// CreateDynamoDBTable).
	NodeKeyField = "node_key"
)

// The kinds of documents (the kind field).
const (
	kindEntry = "entry"
	kindRun   = "run"
	kindBatch = "batch"
	kindLease = "lease"
)

// Key values (see the package doc).
const (
	entryPrefix = "entry:" // pk of an entry: entry:<key id>
	entrySK     = "entry"  // sk of every entry
	runsPK      = "runs"   // pk of every run document; sk is the run key
	batchPrefix = "run:"   // pk of a run's history: run:<run key>; sk is the sequence number
	seqDigits   = 20       // sk of a history document: the sequence, zero-padded so it sorts as text
	leasePrefix = "lease:" // pk of a lease: lease:<key id>
	leaseSK     = "lease"  // sk of every lease
	hashPrefix  = "sha256:"
	hashedRun   = "~" // run key of a run id that cannot be used as is
)

// document is every kind of document the store writes, with the fields of
// all kinds: decoding a query over the whole collection needs one type that
// knows every field. Fields a kind does not use are left out (omitempty).
//
// Times are Unix nanoseconds: Firestore timestamps keep microseconds and
// MongoDB dates milliseconds, and the contract keeps nanoseconds.
type document struct {
	PK   string `docstore:"pk" bson:"pk"`
	SK   string `docstore:"sk" bson:"sk"`
	Kind string `docstore:"kind" bson:"kind"`

	// Entries.
	NodeKey     string   `docstore:"node_key,omitempty" bson:"node_key"`
	Node        string   `docstore:"node,omitempty" bson:"node"`
	CodeVersion string   `docstore:"code_version,omitempty" bson:"code_version"`
	Deps        []depDoc `docstore:"deps,omitempty" bson:"deps"`
	DataVersion string   `docstore:"data_version,omitempty" bson:"data_version"`
	Format      string   `docstore:"format,omitempty" bson:"format"`
	Created     int64    `docstore:"created,omitempty" bson:"created"`
	LastUsed    int64    `docstore:"last_used,omitempty" bson:"last_used"`

	// Runs and history batches.
	Run     string `docstore:"run,omitempty" bson:"run"`
	Started int64  `docstore:"started,omitempty" bson:"started"`
	Seq     int64  `docstore:"seq,omitempty" bson:"seq"`
	Records []byte `docstore:"records,omitempty" bson:"records"`

	// Leases (leases.go; the run field holds the owner's run id).
	Host     string `docstore:"host,omitempty" bson:"host"`
	PID      int64  `docstore:"pid,omitempty" bson:"pid"`
	Token    string `docstore:"token,omitempty" bson:"token"`
	Acquired int64  `docstore:"acquired,omitempty" bson:"acquired"`
	Expires  int64  `docstore:"expires,omitempty" bson:"expires"`

	// DocstoreRevision is docstore's revision: entries are replaced only
	// if they are as they were read (see the package doc). Firestore keeps
	// it as the document's update time, not as a field.
	DocstoreRevision any `bson:"DocstoreRevision"`
}

type depDoc struct {
	Name    string `docstore:"name" bson:"name"`
	Version string `docstore:"version" bson:"version"`
}

// DocumentID returns the key of a document of the store in a collection
// with a single key field: its partition key and sort key joined by "|"
// ("entry:<key id>|entry", "runs|<run>", "run:<run>|<sequence>"). Open
// Firestore, MongoDB and in-memory collections for New with it as the name,
// id or key function:
//
//	gcpfirestore.OpenCollectionWithNameFunc(client, collPath, docstore.DocumentID, nil)
//	mongodocstore.OpenCollectionWithIDFunc(mcoll, func(d gcds.Document) any { return docstore.DocumentID(d) }, nil)
//	memdocstore.OpenCollectionWithKeyFunc(func(d gcds.Document) any { return docstore.DocumentID(d) }, nil)
//
// It returns "" for a document without the key fields, which docstore
// rejects.
func DocumentID(doc gcds.Document) string {
	var pk, sk string
	switch d := doc.(type) {
	case *document:
		pk, sk = d.PK, d.SK
	case map[string]any:
		pk, _ = d[PartitionKey].(string)
		sk, _ = d[SortKey].(string)
	}
	if pk == "" || sk == "" {
		return ""
	}
	return pk + "|" + sk
}

func entryKey(id core.KeyID) *document {
	return &document{PK: entryPrefix + string(id), SK: entrySK}
}

// keyIDOf returns the key id of an entry document's partition key.
func keyIDOf(pk string) (core.KeyID, bool) {
	id, ok := strings.CutPrefix(pk, entryPrefix)
	return core.KeyID(id), ok && core.KeyID(id).Validate() == nil
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// maxNodeKey is the longest node name kept as is in node_key. DynamoDB
// limits an index key to 2048 bytes and Firestore indexes the first 1500
// bytes of a value; a longer name is stored hashed.
const maxNodeKey = 256

// nodeKey returns the node_key of a node's entries: the name, or
// "sha256:<hex>" for a long name or one that itself starts with "sha256:"
// (so that no name stands for another).
func nodeKey(node string) string {
	if len(node) > maxNodeKey || strings.HasPrefix(node, hashPrefix) {
		return hashPrefix + hashHex(node)
	}
	return node
}

// runKey returns the form of a run id used in keys: the id itself when it
// is 1 to 128 letters, digits, '.', '_' or '-' (UUIDs are), otherwise "~"
// and the SHA-256 of the id in hex. The full id is kept in the run field.
func runKey(run core.RunID) string {
	ok := len(run) > 0 && len(run) <= 128
	for i := 0; ok && i < len(run); i++ {
		c := run[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
	}
	if ok {
		return string(run)
	}
	return hashedRun + hashHex(string(run))
}

func runDocKey(run core.RunID) *document { return &document{PK: runsPK, SK: runKey(run)} }

func batchPK(run core.RunID) string { return batchPrefix + runKey(run) }

func seqKey(seq int64) string { return fmt.Sprintf("%0*d", seqDigits, seq) }

// newEntryDoc returns the document of e written at now (Unix nanoseconds):
// its own times when set, else now.
func newEntryDoc(e core.Entry, now int64) *document {
	d := entryKey(e.ID())
	d.Kind = kindEntry
	d.NodeKey = nodeKey(e.Key.Node)
	d.Node = e.Key.Node
	d.CodeVersion = string(e.Key.CodeVersion)
	if len(e.Key.Deps) > 0 {
		d.Deps = make([]depDoc, len(e.Key.Deps))
		for i, dep := range e.Key.Deps {
			d.Deps[i] = depDoc{Name: dep.Name, Version: string(dep.Version)}
		}
	}
	d.DataVersion = string(e.DataVersion)
	d.Format = e.Format
	d.Created, d.LastUsed = now, now
	if !e.Created.IsZero() {
		d.Created = e.Created.UnixNano()
	}
	if !e.LastUsed.IsZero() {
		d.LastUsed = e.LastUsed.UnixNano()
	}
	return d
}

// sameEntry reports whether two entry documents hold the same entry
// (revisions aside): writing one over the other would change nothing.
func sameEntry(a, b *document) bool {
	return a.PK == b.PK && a.SK == b.SK && a.Kind == b.Kind && a.NodeKey == b.NodeKey && a.Node == b.Node &&
		a.CodeVersion == b.CodeVersion && slices.Equal(a.Deps, b.Deps) && a.DataVersion == b.DataVersion &&
		a.Format == b.Format && a.Created == b.Created && a.LastUsed == b.LastUsed
}

// entry returns the entry an entry document holds, checking that it is
// one: a document that is not (edited by hand, written by something else)
// is corrupt, which the cache treats as a miss. When id is not empty, the
// key parts must hash to it.
func (d *document) entry(id core.KeyID) (core.Entry, error) {
	if d.Kind != kindEntry || d.Node == "" || d.DataVersion == "" || d.Format == "" {
		return core.Entry{}, fmt.Errorf("%w: document %s is not a whole entry", core.ErrCorrupt, DocumentID(d))
	}
	k := core.CacheKey{Node: d.Node, CodeVersion: core.CodeVersion(d.CodeVersion)}
	if len(d.Deps) > 0 {
		k.Deps = make([]core.Dep, len(d.Deps))
		for i, dep := range d.Deps {
			k.Deps[i] = core.Dep{Name: dep.Name, Version: core.DataVersion(dep.Version)}
		}
	}
	if id != "" && k.ID() != id {
		return core.Entry{}, fmt.Errorf("%w: the key parts of document %s hash to %s", core.ErrCorrupt, DocumentID(d), k.ID().Short())
	}
	return core.Entry{
		Key: k, DataVersion: core.DataVersion(d.DataVersion), Format: d.Format,
		Created: time.Unix(0, d.Created), LastUsed: time.Unix(0, d.LastUsed),
	}, nil
}
