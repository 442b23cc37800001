package docstore_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	dyn "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/flowcache/flowcache/backends/docstore"
	"github.com/flowcache/flowcache/conformance"
	"github.com/flowcache/flowcache/conformance/scenarios"
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/internal/servertest"
)

// A server is a document database the store is tested on.
type server struct {
	name string
	// newURL returns the metadata URL of a new, empty store on the server,
	// removed when the test ends; it skips the test (fails it in CI) when
	// the server is not running.
	newURL func(t testing.TB) string
}

var servers = []server{
	{"MongoDB", mongoURL},
	{"DynamoDB", dynamoDBURL},
	{"Firestore", firestoreURL},
}

func mongoURL(t testing.TB) string {
	_, db := servertest.MongoURL(t) // dropped when the test ends
	return "mongo://" + db + "/flowcache"
}

// dynamoDBURL returns the URL of a new table, which the store creates
// (create_table=true: servertest.DynamoDBTable makes tables with a
// partition key only) and the cleanup deletes.
func dynamoDBURL(t testing.TB) string {
	client := servertest.DynamoDBClient(t)
	endpoint := servertest.DynamoDBEndpoint(t)
	if os.Getenv("AWS_ACCESS_KEY_ID") == "" { // the local server takes any
		t.Setenv("AWS_ACCESS_KEY_ID", "test")
		t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	}
	table := servertest.UniqueName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, err := client.DeleteTable(ctx, &dyn.DeleteTableInput{TableName: aws.String(table)})
		var nf *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &nf) {
			t.Errorf("delete table %s: %v", table, err)
		}
	})
	return "dynamodb://" + table + "?create_table=true&region=" + servertest.Region + "&endpoint=" + url.QueryEscape(endpoint)
}

// firestoreURL returns the URL of a new collection on the emulator, emptied
// when the test ends.
func firestoreURL(t testing.TB) string {
	return "firestore://projects/" + servertest.FirestoreProject + "/databases/(default)/documents/" + servertest.FirestoreCollection(t)
}

func openServer(t testing.TB, srv server) *docstore.MetadataStore {
	t.Helper()
	u := srv.newURL(t)
	s, err := docstore.Open(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestServers(t *testing.T) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			srv.newURL(t) // skip early when the server is not running
			t.Run("Metadata", func(t *testing.T) {
				conformance.TestMetadataStore(t, func(t *testing.T) core.MetadataStore { return openServer(t, srv) })
			})
			t.Run("Scenarios", func(t *testing.T) {
				scenarios.TestScenarios(t, func(t *testing.T) (core.MetadataStore, core.ResultStore) {
					s := openServer(t, srv)
					t.Cleanup(func() { s.Close() })
					return s, localResults(t)
				})
			})
			t.Run("OpenURL", func(t *testing.T) { testOpenURL(t, srv.newURL(t)) })
			t.Run("RemoveEntries", func(t *testing.T) {
				s := openServer(t, srv)
				defer s.Close()
				testRemoveEntries(t, s)
			})
		})
	}
}

// testOpenURL runs a pipeline twice on a store URL with results in a local
// directory and metadata in the document database (the metadata
// parameter), and checks that the second run retrieves.
func testOpenURL(t *testing.T, metaURL string) {
	ctx := context.Background()
	storeURL := "file://" + t.TempDir() + "?metadata=" + url.QueryEscape(metaURL)
	for run := range 2 {
		st, err := core.OpenURL(ctx, storeURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := st.Metadata.(*docstore.MetadataStore); !ok {
			t.Fatalf("OpenURL(%s) metadata is a %T", storeURL, st.Metadata)
		}
		executed := runPipeline(t, st)
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		if want := []int{2, 0}[run]; executed != want {
			t.Errorf("run %d executed %d nodes, want %d", run+1, executed, want)
		}
	}
}

// TestSharedStores runs writers through several Stores on one collection,
// as processes on several machines would, each with its own client.
func TestSharedStores(t *testing.T) {
	t.Run("memdocstore", func(t *testing.T) {
		coll := memCollection(t)
		testShared(t, func() *docstore.MetadataStore { return docstore.New(coll) })
	})
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			u := srv.newURL(t)
			testShared(t, func() *docstore.MetadataStore {
				s, err := docstore.Open(context.Background(), u)
				if err != nil {
					t.Fatal(err)
				}
				return s
			})
		})
	}
}

func testShared(t *testing.T, open func() *docstore.MetadataStore) {
	ctx := context.Background()
	const stores, batches = 4, 10
	shared := key("shared", "x")
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		versions []core.DataVersion
	)
	for w := range stores {
		s := open()
		defer s.Close()
		wg.Go(func() {
			run := core.RunID(fmt.Sprintf("run-%d", w))
			for i := range batches {
				v := core.DataVersion(fmt.Sprintf("%064d", w*100+i))
				mu.Lock()
				versions = append(versions, v)
				mu.Unlock()
				own := key(fmt.Sprintf("own-%d-%d", w, i))
				b := core.Batch{Run: run, Now: time.Unix(1000+int64(i*stores+w), 0),
					Entries: []core.Entry{{Key: shared, DataVersion: v, Format: "gob"}, {Key: own, DataVersion: v, Format: "gob"}},
					Hits:    []core.KeyID{shared.ID()},
					Records: []core.NodeRecord{{Node: own.Node, Key: own, DataVersion: v, Outcome: core.OutcomeExecuted, Size: int64(i)}},
				}
				if err := s.Write(ctx, b); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	s := open()
	defer s.Close()
	e, err := s.Get(ctx, shared.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(versions, e.DataVersion) {
		t.Errorf("shared key maps to %s, which no writer wrote", e.DataVersion.Short())
	}
	runs, err := s.Runs(ctx)
	if err != nil || len(runs) != stores {
		t.Fatalf("Runs = %v, %v; want %d runs", runs, err, stores)
	}
	for _, r := range runs {
		recs, err := s.Run(ctx, r.ID)
		if err != nil || len(recs) != batches {
			t.Errorf("Run(%s) = %d records, %v; want %d", r.ID, len(recs), err, batches)
			continue
		}
		for i, rec := range recs {
			if rec.Size != int64(i) {
				t.Errorf("Run(%s) record %d has size %d: out of order", r.ID, i, rec.Size)
			}
		}
	}
	n := 0
	if err := s.WalkEntries(ctx, func(core.Entry) error { n++; return nil }); err != nil || n != stores*batches+1 {
		t.Errorf("WalkEntries saw %d entries, %v; want %d", n, err, stores*batches+1)
	}
}

// TestMongoDamagedEntry checks, on MongoDB where Get reads with the driver,
// that an entry document the store did not write is a miss (ErrCorrupt),
// and that a new write replaces it.
func TestMongoDamagedEntry(t *testing.T) {
	ctx := context.Background()
	u := mongoURL(t)
	s, err := docstore.Open(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	k := key("n", "a")
	e := core.Entry{Key: k, DataVersion: core.DataVersion(strings.Repeat("1", 64)), Format: "gob"}
	if err := s.Write(ctx, core.Batch{Entries: []core.Entry{e}}); err != nil {
		t.Fatal(err)
	}
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(os.Getenv("MONGO_SERVER_URL")))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	db, coll, _ := strings.Cut(strings.TrimPrefix(u, "mongo://"), "/")
	mc := client.Database(db).Collection(coll)
	id := "entry:" + string(k.ID()) + "|entry"
	for _, damage := range []bson.M{
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "kind": "entry", "node": "other", "data_version": "x", "format": "gob"},
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "kind": "entry", "node": "n", "format": "gob"},
		{"pk": "entry:" + string(k.ID()), "sk": "entry", "kind": "entry", "node": "n", "data_version": 7, "format": "gob"},
	} {
		if _, err := mc.ReplaceOne(ctx, bson.M{"_id": id}, damage); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, k.ID()); !errors.Is(err, core.ErrCorrupt) {
			t.Errorf("Get of damaged %s (%v) = %v, want ErrCorrupt", id, damage, err)
		}
		if err := s.Write(ctx, core.Batch{Entries: []core.Entry{e}}); err != nil {
			t.Fatalf("Write over damaged %s: %v", id, err)
		}
		if got, err := s.Get(ctx, k.ID()); err != nil || got.DataVersion != e.DataVersion {
			t.Errorf("Get after rewriting = %v, %v", got.DataVersion, err)
		}
	}
}

// TestDynamoDBTableChecks checks what OpenDynamoDB says of tables without
// the store's layout, and that allow_scans makes one without the node_key
// index usable.
func TestDynamoDBTableChecks(t *testing.T) {
	ctx := context.Background()
	client := servertest.DynamoDBClient(t)

	wrong, _ := servertest.DynamoDBTable(t, "id")
	if _, err := docstore.OpenDynamoDB(ctx, client, wrong); err == nil || !strings.Contains(err.Error(), "partition key pk and sort key sk") {
		t.Errorf("OpenDynamoDB(table keyed by id) = %v, want an error naming the key the store needs", err)
	}
	if _, err := docstore.OpenDynamoDB(ctx, client, servertest.UniqueName(t)); err == nil || !strings.Contains(err.Error(), "create_table=true") {
		t.Errorf("OpenDynamoDB(missing table) = %v, want an error saying how to create it", err)
	}

	plain := servertest.UniqueName(t)
	str := aws.String
	_, err := client.CreateTable(ctx, &dyn.CreateTableInput{
		TableName: str(plain),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: str("pk"), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: str("sk"), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: str("pk"), KeyType: types.KeyTypeHash}, {AttributeName: str("sk"), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.DeleteTable(context.Background(), &dyn.DeleteTableInput{TableName: str(plain)})
	if _, err := docstore.OpenDynamoDB(ctx, client, plain); err == nil || !strings.Contains(err.Error(), "allow_scans=true") {
		t.Errorf("OpenDynamoDB(table without index) = %v, want an error naming allow_scans", err)
	}
	s, err := docstore.OpenDynamoDB(ctx, client, plain, docstore.WithAllowScans())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b core.Batch
	var nodes []string
	for i := range 150 {
		e := benchEntry(fmt.Sprintf("scan-%03d", i), i)
		b.Entries = append(b.Entries, e)
		if i%3 == 0 {
			nodes = append(nodes, e.Key.Node)
		}
	}
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	m, err := s.Preload(ctx, nodes)
	if err != nil || len(m) != len(nodes) {
		t.Errorf("Preload by scans = %d entries, %v; want %d", len(m), err, len(nodes))
	}
}
