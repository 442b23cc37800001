package servertest

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// MongoURL returns MONGO_SERVER_URL (FerretDB at mongodb://127.0.0.1:27017/
// under scripts/servers), after checking that it answers, and the name of a
// fresh database. When the test ends, the database is dropped.
func MongoURL(t testing.TB) (serverURL, db string) {
	t.Helper()
	serverURL = mongoServerURL(t)
	db = UniqueName(t)
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		client, err := mongo.Connect(ctx, options.Client().ApplyURI(serverURL))
		if err != nil {
			t.Errorf("servertest: drop MongoDB database %s: %v", db, err)
			return
		}
		defer client.Disconnect(ctx)
		if err := client.Database(db).Drop(ctx); err != nil {
			t.Errorf("servertest: drop MongoDB database %s: %v", db, err)
		}
	})
	return serverURL, db
}

// mongoServerURL reads MONGO_SERVER_URL and checks that its (first) host answers.
func mongoServerURL(t testing.TB) string {
	t.Helper()
	u := needEnv(t, "MongoDB", "MONGO_SERVER_URL")
	rest, ok := strings.CutPrefix(u, "mongodb://")
	if !ok {
		unavailable(t, "MongoDB", "MONGO_SERVER_URL is not a mongodb:// URL")
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		rest = rest[i+1:] // user:password@
	}
	host, _, _ := strings.Cut(rest, ",")
	if !strings.Contains(host, ":") || strings.HasSuffix(host, "]") {
		host += ":27017"
	}
	needDial(t, "MongoDB", host, "MONGO_SERVER_URL")
	return u
}
