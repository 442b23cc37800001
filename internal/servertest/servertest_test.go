package servertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// payload is random bytes of an odd size, larger than one network buffer.
func payload(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, 300_001)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestS3RoundTrip(t *testing.T) {
	t.Parallel()
	bucket := S3Bucket(t)
	client := S3Client(t)
	ctx := t.Context()
	want := payload(t)
	key := "results/ab/abcdef.gob"
	if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(want)}); err != nil {
		t.Fatalf("put: %v", err)
	}
	out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(want))
	}
	list, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String("results/")})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != key {
		t.Fatalf("list: got %d objects, want just %s", len(list.Contents), key)
	}
	u := S3URL(t, bucket, "p")
	if want := "s3://" + bucket + "/p?endpoint=" + S3Endpoint(t) + "&use_path_style=true&disable_https=true&region=us-east-1"; u != want {
		t.Errorf("S3URL = %s, want %s", u, want)
	}
}

// TestS3CleanupVersioned checks that S3Bucket's cleanup removes a bucket whose
// test turned versioning on and left old versions and delete markers.
func TestS3CleanupVersioned(t *testing.T) {
	t.Parallel()
	var bucket string
	t.Run("versioned", func(t *testing.T) {
		bucket = S3Bucket(t)
		client := S3Client(t)
		ctx := t.Context()
		_, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(bucket),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled},
		})
		if err != nil {
			t.Fatalf("enable versioning: %v", err)
		}
		for _, body := range []string{"one", "two"} {
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("k"), Body: strings.NewReader(body)}); err != nil {
				t.Fatalf("put: %v", err)
			}
		}
		if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("k")}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
	if bucket == "" {
		return // skipped
	}
	_, err := S3Client(t).HeadBucket(t.Context(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	var nf *s3types.NotFound
	if !errors.As(err, &nf) {
		t.Fatalf("bucket %s still there after its test's cleanup (HeadBucket: %v)", bucket, err)
	}
}

func TestGCSRoundTrip(t *testing.T) {
	t.Parallel()
	bucket := GCSBucket(t)
	client := GCSClient(t)
	ctx := t.Context()
	want := payload(t)
	obj := client.Bucket(bucket).Object("results/ab/abcdef.gob")
	w := obj.NewWriter(ctx)
	if _, err := w.Write(want); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("close writer: %v", err)
	}
	r, err := obj.NewReader(ctx)
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(want))
	}
	if u := GCSURL(t, bucket, "p/q"); u != "gs://"+bucket+"/p/q" {
		t.Errorf("GCSURL = %s", u)
	}
}

func TestAzureRoundTrip(t *testing.T) {
	t.Parallel()
	container := AzureContainer(t)
	client := AzureClient(t)
	ctx := t.Context()
	want := payload(t)
	blob := "results/ab/abcdef.gob"
	if _, err := client.UploadBuffer(ctx, container, blob, want, nil); err != nil {
		t.Fatalf("upload: %v", err)
	}
	resp, err := client.DownloadStream(ctx, container, blob, nil)
	if err != nil {
		t.Fatalf("download: %v", err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(want))
	}
	pager := client.NewListBlobsFlatPager(container, &azblob.ListBlobsFlatOptions{})
	page, err := pager.NextPage(ctx)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if n := len(page.Segment.BlobItems); n != 1 {
		t.Fatalf("list: %d blobs, want 1", n)
	}
	if u := AzureURL(t, container, ""); u != "azblob://"+container {
		t.Errorf("AzureURL = %s", u)
	}
}

func TestDynamoDBRoundTrip(t *testing.T) {
	t.Parallel()
	table, endpoint := DynamoDBTable(t, "id")
	client := newDynamoDBClient(endpoint)
	ctx := t.Context()
	want := payload(t)[:50_000] // an item is at most 400 KB
	_, err := client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]dtypes.AttributeValue{
			"id":   &dtypes.AttributeValueMemberS{Value: "key-1"},
			"data": &dtypes.AttributeValueMemberB{Value: want},
		},
	})
	if err != nil {
		t.Fatalf("put: %v", err)
	}
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(table),
		Key:            map[string]dtypes.AttributeValue{"id": &dtypes.AttributeValueMemberS{Value: "key-1"}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got, ok := out.Item["data"].(*dtypes.AttributeValueMemberB)
	if !ok {
		t.Fatalf("get: item %v has no binary data", out.Item)
	}
	if !bytes.Equal(got.Value, want) {
		t.Fatalf("read back %d bytes, not the %d written", len(got.Value), len(want))
	}
}

func TestMongoRoundTrip(t *testing.T) {
	t.Parallel()
	serverURL, db := MongoURL(t)
	ctx := t.Context()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(serverURL))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer client.Disconnect(context.Background())
	coll := client.Database(db).Collection("entries")
	want := payload(t)
	if _, err := coll.InsertOne(ctx, bson.M{"_id": "key-1", "data": want}); err != nil {
		t.Fatalf("insert: %v", err)
	}
	var doc struct {
		Data []byte `bson:"data"`
	}
	if err := coll.FindOne(ctx, bson.M{"_id": "key-1"}).Decode(&doc); err != nil {
		t.Fatalf("find: %v", err)
	}
	if !bytes.Equal(doc.Data, want) {
		t.Fatalf("read back %d bytes, not the %d written", len(doc.Data), len(want))
	}
}

func TestFirestoreRoundTrip(t *testing.T) {
	t.Parallel()
	coll := FirestoreCollection(t)
	client := FirestoreClient(t)
	ctx := t.Context()
	want := payload(t)[:100_000] // a document is at most 1 MiB
	ref := client.Collection(coll).Doc("key-1")
	if _, err := ref.Set(ctx, map[string]any{"data": want}); err != nil {
		t.Fatalf("set: %v", err)
	}
	snap, err := ref.Get(ctx)
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	got, err := snap.DataAt("data")
	if err != nil {
		t.Fatalf("data: %v", err)
	}
	if b, _ := got.([]byte); !bytes.Equal(b, want) {
		t.Fatalf("read back %T of %d bytes, not the %d written", got, len(b), len(want))
	}
}

func TestUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range []string{"TestX", "Test/With Spaces/And--Hyphens__UPPER", strings.Repeat("Long", 40), "/"} {
		t.Run(name, func(t *testing.T) {
			for range 3 {
				n := UniqueName(t)
				if len(n) < 3 || len(n) > 63 {
					t.Errorf("%q: length %d", n, len(n))
				}
				if !strings.HasPrefix(n, "fc-") || strings.Contains(n, "--") || strings.HasSuffix(n, "-") {
					t.Errorf("%q: not a valid container name", n)
				}
				for _, r := range n {
					if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
						t.Errorf("%q: character %q", n, r)
					}
				}
				if seen[n] {
					t.Errorf("%q given twice", n)
				}
				seen[n] = true
			}
		})
	}
}

func TestURLShapes(t *testing.T) {
	if got, want := s3URL("http://127.0.0.1:9000", "b", "x/y"), "s3://b/x/y?endpoint=http://127.0.0.1:9000&use_path_style=true&disable_https=true&region=us-east-1"; got != want {
		t.Errorf("s3URL = %s, want %s", got, want)
	}
	if got := s3URL("http://h:1", "b", ""); !strings.HasPrefix(got, "s3://b?endpoint=") {
		t.Errorf("s3URL without prefix = %s", got)
	}
	if got := joinPrefix("gs://b", "/p"); got != "gs://b/p" {
		t.Errorf("joinPrefix = %s", got)
	}
	cs := "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
	if got := connectionStringValue(cs, "blobendpoint"); got != "http://127.0.0.1:10000/devstoreaccount1" {
		t.Errorf("BlobEndpoint = %q", got)
	}
	if got := connectionStringValue(cs, "AccountKey"); got != "k==" {
		t.Errorf("AccountKey = %q", got)
	}
}

// recordingTB stands in for a test to observe a helper's Skip or Fatal.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs f with a recordingTB in its own goroutine, as the testing package
// runs a test, so that Skipf and Fatalf can stop it.
func call(t *testing.T, f func(testing.TB)) *recordingTB {
	r := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}

// TestUnavailable checks the contract: a server that does not answer skips the
// test with the command to start the servers, fails it when CI=true, and a
// missing Firestore jar skips even in CI.
func TestUnavailable(t *testing.T) {
	t.Setenv("FLOWCACHE_TEST_S3_ENDPOINT", "http://127.0.0.1:1") // nothing listens on port 1
	t.Setenv("AWS_ACCESS_KEY_ID", "minioadmin")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "minioadmin")
	t.Setenv("MONGO_SERVER_URL", "")
	t.Setenv("FLOWCACHE_FIRESTORE_JAR", "/nonexistent/cloud-firestore-emulator.jar")

	for _, ci := range []string{"", "false", "true"} {
		t.Setenv("CI", ci)
		for name, f := range map[string]func(testing.TB){
			"S3 not answering": func(tb testing.TB) { S3Bucket(tb) },
			"Mongo not set":    func(tb testing.TB) { MongoURL(tb) },
		} {
			r := call(t, f)
			if ci == "true" {
				if r.failed == "" || r.skipped != "" || !strings.Contains(r.failed, "CI=true") {
					t.Errorf("CI=%s, %s: failed %q, skipped %q; want a failure", ci, name, r.failed, r.skipped)
				}
			} else if r.skipped == "" || r.failed != "" || !strings.Contains(r.skipped, StartHint) {
				t.Errorf("CI=%s, %s: failed %q, skipped %q; want a skip naming %s", ci, name, r.failed, r.skipped, StartHint)
			}
		}
		r := call(t, func(tb testing.TB) { FirestoreHost(tb) })
		if r.skipped == "" || r.failed != "" {
			t.Errorf("CI=%s, no Firestore jar: failed %q, skipped %q; want a skip", ci, r.failed, r.skipped)
		}
	}
}
