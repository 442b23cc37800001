// Package servertest gives server-backed tests a fresh bucket, container, table,
// database or collection on the real storage servers that scripts/servers runs on
// loopback, and removes it when the test ends.
//
// Start the servers and export their addresses before running the tests:
//
//	scripts/servers start && eval "$(scripts/servers env)"
//	go test ./...
//	scripts/servers stop
//
// Every helper first checks its server's environment variables and that the
// server accepts a TCP connection (within [DialTimeout]). When it does not, the
// test is skipped with a message saying how to start the servers; but when the
// environment variable CI is true, the test fails instead, since in CI a
// server-backed test must never skip silently. The one exception is Firestore:
// its emulator is a preinstalled jar that cannot be installed, so Firestore tests
// skip, even in CI, when that jar is absent (see [FirestoreHost]).
//
// The environment contract (what `scripts/servers env` prints):
//
//	FLOWCACHE_TEST_S3_ENDPOINT        http://127.0.0.1:9000 (MinIO)
//	AWS_ACCESS_KEY_ID                 minioadmin
//	AWS_SECRET_ACCESS_KEY             minioadmin
//	AWS_REGION                        us-east-1
//	STORAGE_EMULATOR_HOST             127.0.0.1:4443 (fake-gcs-server; no scheme)
//	AZURE_STORAGE_CONNECTION_STRING   Azurite's devstoreaccount1, BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;
//	MONGO_SERVER_URL                  mongodb://127.0.0.1:27017/ (FerretDB)
//	FLOWCACHE_TEST_DYNAMODB_ENDPOINT  http://127.0.0.1:4567 (dynalite)
//	FIRESTORE_EMULATOR_HOST           127.0.0.1:8086 (only when the emulator jar exists)
//	FLOWCACHE_SERVERS_INSTANCE        a new id each time scripts/servers starts servers
//
// Importing the package sets AWS_EC2_METADATA_DISABLED=true when it is unset
// (see [EC2MetadataEnv]): a test that opens an s3:// or dynamodb:// URL without
// credentials fails at once instead of asking the EC2 instance-metadata
// address for them.
//
// Every helper reads FLOWCACHE_SERVERS_INSTANCE: go test keys its cached results
// on the environment variables a test read, so a result is not reused once the
// servers it ran against were stopped and started again (or never were).
package servertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EC2MetadataEnv is the AWS SDK's switch for the EC2 instance-metadata
// service (IMDS). Unless it is "true", opening an s3:// or dynamodb:// URL
// without credentials in the environment makes the SDK ask 169.254.169.254
// for an instance role before it fails: right on EC2, never wanted in tests.
// The package sets it to "true" when it is unset; set it to "false" to run the
// tests on EC2 with an instance role.
const EC2MetadataEnv = "AWS_EC2_METADATA_DISABLED"

func init() {
	if _, set := os.LookupEnv(EC2MetadataEnv); !set {
		os.Setenv(EC2MetadataEnv, "true")
	}
}

// StartHint is how to start the servers, as the skip messages say it.
const StartHint = `scripts/servers start && eval "$(scripts/servers env)"`

// DialTimeout bounds the TCP check that a server answers. The servers run on
// loopback, where a connection is accepted or refused in microseconds.
const DialTimeout = 2 * time.Second

// cleanupTimeout bounds the removal of what a helper created, and
// setupTimeout its creation (with the retries of a stalled try).
const (
	cleanupTimeout = time.Minute
	setupTimeout   = 3 * time.Minute
)

// Region is the region every AWS-protocol helper uses.
const Region = "us-east-1"

// InCI reports whether the environment variable CI is true, as CI sets it:
// then a missing server fails a test instead of skipping it.
func InCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// unavailable ends the test because a server cannot be used: a failure in CI,
// a skip elsewhere.
func unavailable(t testing.TB, server, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s server unavailable: %s. CI=true, so server-backed tests must not skip: "+
			".ci/run starts the servers with scripts/servers (%s)", server, reason, StartHint)
	}
	t.Skipf("%s server unavailable: %s. Start the test servers with: %s", server, reason, StartHint)
}

// needEnv returns the value of an environment variable a server's tests need,
// or ends the test through unavailable.
func needEnv(t testing.TB, server, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		unavailable(t, server, name+" is not set")
	}
	return v
}

// needDial checks that something accepts TCP connections at hostport.
func needDial(t testing.TB, server, hostport, from string) {
	t.Helper()
	instance := os.Getenv("FLOWCACHE_SERVERS_INSTANCE") // read for go test's cache key; see the package doc
	c, err := net.DialTimeout("tcp", hostport, DialTimeout)
	if err != nil {
		unavailable(t, server, fmt.Sprintf("nothing answers at %s (from %s; servers instance %q): %v", hostport, from, instance, err))
		return
	}
	c.Close()
}

// endpointHostPort is the host:port of an http(s) endpoint URL.
func endpointHostPort(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if u.Host == "" {
		return "", fmt.Errorf("no host in %q", endpoint)
	}
	if u.Port() != "" {
		return u.Host, nil
	}
	switch u.Scheme {
	case "http":
		return net.JoinHostPort(u.Hostname(), "80"), nil
	case "https":
		return net.JoinHostPort(u.Hostname(), "443"), nil
	}
	return "", fmt.Errorf("no port in %q", endpoint)
}

// needEndpoint reads an endpoint URL from the environment variable name and
// checks that its server answers.
func needEndpoint(t testing.TB, server, name string) string {
	t.Helper()
	ep := needEnv(t, server, name)
	hp, err := endpointHostPort(ep)
	if err != nil {
		unavailable(t, server, fmt.Sprintf("%s=%q is not an endpoint URL: %v", name, ep, err))
	}
	needDial(t, server, hp, name)
	return ep
}

// UniqueName returns a fresh name for a bucket, container, table, database or
// collection: "fc-", the test's name in lowercase letters, digits and single
// hyphens (at most 40 characters), a hyphen and 10 random hex digits. It is valid
// as an S3 or GCS bucket, an Azure container (3–63 characters, no double
// hyphens), a DynamoDB table, a MongoDB database and a Firestore collection.
func UniqueName(t testing.TB) string {
	t.Helper()
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("servertest: random name: %v", err)
	}
	slug := slugify(t.Name(), 40)
	if slug == "" {
		return "fc-" + hex.EncodeToString(b[:])
	}
	return "fc-" + slug + "-" + hex.EncodeToString(b[:])
}

// slugify keeps the lowercase letters and digits of s, turns every other run of
// characters between two of them into one hyphen, and stops at max bytes.
func slugify(s string, max int) string {
	var sb strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if hyphen && sb.Len() > 0 {
				sb.WriteByte('-')
			}
			hyphen = false
			sb.WriteRune(r)
			if sb.Len() >= max {
				break
			}
			continue
		}
		hyphen = true
	}
	return sb.String()
}

// cleanupContext is the context of a cleanup: the test's own is already
// cancelled when cleanups run.
func cleanupContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), cleanupTimeout)
}

// setupContext is the context for creating a resource.
func setupContext(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), setupTimeout)
}

// joinPrefix appends "/prefix" to a blob URL's bucket part when prefix is not
// empty.
func joinPrefix(base, prefix string) string {
	prefix = strings.TrimPrefix(prefix, "/")
	if prefix == "" {
		return base
	}
	return base + "/" + prefix
}

// getenvOr returns the environment variable name, or def when it is empty.
func getenvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
