package docstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	vkit "cloud.google.com/go/firestore/apiv1"
	dyn "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	gcaws "gocloud.dev/aws"
	gcds "gocloud.dev/docstore"
	"gocloud.dev/docstore/gcpfirestore"
	"gocloud.dev/docstore/mongodocstore"
	"gocloud.dev/gcp"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/flowcache/flowcache/core"
)

// The metadata URL schemes (see the package doc for their parameters).
func init() {
	core.RegisterMetadataScheme("dynamodb", func(ctx context.Context, u *url.URL) (core.MetadataStore, error) {
		return openDynamoDBURL(ctx, u)
	})
	core.RegisterMetadataScheme("firestore", func(ctx context.Context, u *url.URL) (core.MetadataStore, error) {
		return openFirestoreURL(ctx, u)
	})
	core.RegisterMetadataScheme("mongo", func(ctx context.Context, u *url.URL) (core.MetadataStore, error) {
		return openMongoURL(ctx, u)
	})
}

// Open opens the store a metadata URL names: dynamodb://TABLE?...,
// firestore://projects/P/databases/D/documents/COLL or mongo://DB/COLL?...
// (see the package doc). It is core.OpenMetadataURL for these schemes:
// errors never show the URL's secrets.
func Open(ctx context.Context, rawURL string) (*MetadataStore, error) {
	m, err := core.OpenMetadataURL(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	s, ok := m.(*MetadataStore)
	if !ok {
		m.Close()
		return nil, fmt.Errorf("docstore: %w: metadata URL of another backend (want dynamodb://, firestore:// or mongo://)", core.ErrInvalid)
	}
	return s, nil
}

// boolParam returns the value of a true/false query parameter (false when
// absent).
func boolParam(q url.Values, name string) (bool, error) {
	if !q.Has(name) {
		return false, nil
	}
	v, err := strconv.ParseBool(q.Get(name))
	if err != nil {
		return false, fmt.Errorf("%w: URL parameter %s=%q: want true or false", core.ErrInvalid, name, core.Redact(q.Get(name)))
	}
	return v, nil
}

// noUserInfo rejects a metadata URL with user info, which would otherwise
// be ignored: credentials come from where says.
func noUserInfo(u *url.URL, where string) error {
	if u.User == nil {
		return nil
	}
	return fmt.Errorf("%w: %s URL with user info: credentials come from %s, not the URL", core.ErrInvalid, u.Scheme, where)
}

// dynamoDBParams are the parameters of dynamodb:// URLs: the store's own,
// then those gocloud.dev/aws reads to configure the client.
var dynamoDBParams = []string{"create_table", "allow_scans", "region", "endpoint", "profile", "role", "fips", "dualstack"}

func openDynamoDBURL(ctx context.Context, u *url.URL) (*MetadataStore, error) {
	if err := core.CheckQueryParams(u, dynamoDBParams...); err != nil {
		return nil, err
	}
	if err := noUserInfo(u, "the AWS SDK's chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, a role"); err != nil {
		return nil, err
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%w: want dynamodb://TABLE (the table name only, no path)", core.ErrInvalid)
	}
	q := u.Query()
	var opts []Option
	create, err := boolParam(q, "create_table")
	if err != nil {
		return nil, err
	}
	if create {
		opts = append(opts, WithCreateTable())
	}
	scans, err := boolParam(q, "allow_scans")
	if err != nil {
		return nil, err
	}
	if scans {
		opts = append(opts, WithAllowScans())
	}
	q.Del("create_table")
	q.Del("allow_scans")
	cfg, err := gcaws.V2ConfigFromURLParams(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", core.ErrInvalid, err)
	}
	return OpenDynamoDB(ctx, dyn.NewFromConfig(cfg), u.Host, opts...)
}

var firestorePathRE = regexp.MustCompile(`^projects/[^/]+/databases/[^/]+/documents/[^/]+(/[^/]+/[^/]+)*$`)

func openFirestoreURL(ctx context.Context, u *url.URL) (*MetadataStore, error) {
	if err := core.CheckQueryParams(u); err != nil {
		return nil, err
	}
	if err := noUserInfo(u, "Application Default Credentials"); err != nil {
		return nil, err
	}
	collPath := path.Join(u.Host, u.Path)
	if !firestorePathRE.MatchString(collPath) {
		return nil, fmt.Errorf("%w: want firestore://projects/PROJECT/databases/DATABASE/documents/COLLECTION", core.ErrInvalid)
	}
	client, closeClient, err := dialFirestore(ctx)
	if err != nil {
		return nil, fmt.Errorf("firestore: %w", err)
	}
	coll, err := gcpfirestore.OpenCollectionWithNameFunc(client, collPath, DocumentID, nil)
	if err != nil {
		closeClient()
		return nil, fmt.Errorf("firestore collection %s: %w", collPath, err)
	}
	s := New(coll)
	s.name = "docstore: firestore collection " + collPath
	s.closers = append(s.closers, closeClient)
	return s, nil
}

// dialFirestore returns a Firestore client and the function that closes it:
// for the emulator (FIRESTORE_EMULATOR_HOST) without credentials, otherwise
// with Application Default Credentials. Unlike gcpfirestore.Dial, closing
// also closes the emulator connection.
func dialFirestore(ctx context.Context) (*vkit.Client, func() error, error) {
	host := os.Getenv("FIRESTORE_EMULATOR_HOST")
	if host == "" {
		creds, err := gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, nil, err
		}
		client, _, err := gcpfirestore.Dial(ctx, creds.TokenSource)
		if err != nil {
			return nil, nil, err
		}
		return client, client.Close, nil
	}
	conn, err := grpc.NewClient(host, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, err
	}
	client, err := vkit.NewClient(ctx, option.WithEndpoint(host), option.WithGRPCConn(conn))
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return client, func() error {
		err := client.Close()
		conn.Close() // may be closed by client.Close already
		return err
	}, nil
}

func openMongoURL(ctx context.Context, u *url.URL) (*MetadataStore, error) {
	if err := core.CheckQueryParams(u, "create_indexes"); err != nil {
		return nil, err
	}
	if err := noUserInfo(u, "MONGO_SERVER_URL, which names the server"); err != nil {
		return nil, err
	}
	db, collName := u.Host, strings.TrimPrefix(u.Path, "/")
	if db == "" || collName == "" {
		return nil, fmt.Errorf("%w: want mongo://DATABASE/COLLECTION", core.ErrInvalid)
	}
	createIndexes := true
	if q := u.Query(); q.Has("create_indexes") {
		var err error
		if createIndexes, err = boolParam(q, "create_indexes"); err != nil {
			return nil, err
		}
	}
	server := os.Getenv("MONGO_SERVER_URL")
	if server == "" {
		return nil, errors.New("mongo: MONGO_SERVER_URL is not set (the MongoDB server, e.g. mongodb://host:27017/)")
	}
	client, err := mongodocstore.Dial(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("mongo: connect to the server of MONGO_SERVER_URL: %w", scrubbed(err, server))
	}
	disconnect := func() error { return client.Disconnect(context.Background()) }
	mcoll := client.Database(db).Collection(collName)
	if createIndexes {
		if err := ensureMongoIndexes(ctx, mcoll); err != nil {
			disconnect()
			return nil, fmt.Errorf("mongo collection %s.%s on the server of MONGO_SERVER_URL: create indexes on %s and %s (or open with create_indexes=false): %w",
				db, collName, PartitionKey, NodeKeyField, scrubbed(err, server))
		}
	}
	coll, err := mongodocstore.OpenCollectionWithIDFunc(mcoll, func(d gcds.Document) any { return DocumentID(d) }, nil)
	if err != nil {
		disconnect()
		return nil, fmt.Errorf("mongo collection %s.%s: %w", db, collName, err)
	}
	s := New(coll)
	s.name = "docstore: mongo collection " + db + "." + collName
	s.closers = append(s.closers, disconnect)
	return s, nil
}

// ensureMongoIndexes creates the indexes the store queries by, pk (runs
// and history) and node_key (Preload), unless they exist. (Creating an
// index that exists is a no-op for MongoDB, but crashes the connection in
// FerretDB 1.24, so the indexes are listed first.)
func ensureMongoIndexes(ctx context.Context, mcoll *mongo.Collection) error {
	missing, err := missingMongoIndexes(ctx, mcoll)
	if err != nil || len(missing) == 0 {
		return err
	}
	if _, err = mcoll.Indexes().CreateMany(ctx, missing); err != nil {
		// Another process may have created them meanwhile.
		if again, lerr := missingMongoIndexes(ctx, mcoll); lerr == nil && len(again) == 0 {
			return nil
		}
	}
	return err
}

func missingMongoIndexes(ctx context.Context, mcoll *mongo.Collection) ([]mongo.IndexModel, error) {
	specs, err := mcoll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, sp := range specs {
		var keys bson.D
		if err := bson.Unmarshal(sp.KeysDocument, &keys); err == nil && len(keys) == 1 {
			have[keys[0].Key] = true
		}
	}
	var missing []mongo.IndexModel
	for _, f := range []string{PartitionKey, NodeKeyField} {
		if !have[f] {
			missing = append(missing, mongo.IndexModel{Keys: bson.D{{Key: f, Value: 1}}})
		}
	}
	return missing, nil
}

// scrubbed returns err with the server URL, and its password, taken out of
// its text: MONGO_SERVER_URL may hold credentials, and core redacts only
// the metadata URL's own secrets.
func scrubbed(err error, server string) error {
	msg := err.Error()
	clean := strings.ReplaceAll(msg, server, "$MONGO_SERVER_URL")
	if u, perr := url.Parse(server); perr == nil {
		if p, ok := u.User.Password(); ok && p != "" {
			clean = strings.ReplaceAll(clean, p, "xxxxx")
			clean = strings.ReplaceAll(clean, url.QueryEscape(p), "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return errors.New(clean)
}
