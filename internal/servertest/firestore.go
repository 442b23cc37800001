package servertest

import (
	"errors"
	"os"
	"os/exec"
	"testing"

	"cloud.google.com/go/firestore"
	"google.golang.org/api/iterator"
)

// FirestoreProject is the project the Firestore helpers use (the emulator
// accepts any), as in firestore://projects/flowcache-test/databases/(default)/documents/COLLECTION.
const FirestoreProject = "flowcache-test"

// DefaultFirestoreJar is where the Google Cloud SDK keeps the Firestore
// emulator; FLOWCACHE_FIRESTORE_JAR names another place (scripts/servers reads
// the same variable).
const DefaultFirestoreJar = "/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"

// FirestoreEmulatorInstalled reports whether the Firestore emulator jar and java
// are present, that is, whether scripts/servers starts the emulator.
func FirestoreEmulatorInstalled() bool {
	if _, err := os.Stat(getenvOr("FLOWCACHE_FIRESTORE_JAR", DefaultFirestoreJar)); err != nil {
		return false
	}
	_, err := exec.LookPath("java")
	return err == nil
}

// FirestoreHost returns FIRESTORE_EMULATOR_HOST (127.0.0.1:8086 under
// scripts/servers) after checking that the emulator answers. The emulator is a
// preinstalled jar that cannot be installed: where it is absent the test is
// skipped, even in CI; where it is present, a missing emulator is like any other
// missing server (a skip, or a failure in CI).
func FirestoreHost(t testing.TB) string {
	t.Helper()
	if !FirestoreEmulatorInstalled() {
		t.Skipf("Firestore emulator not installed here (no %s, or no java): it cannot be installed, so Firestore tests skip",
			getenvOr("FLOWCACHE_FIRESTORE_JAR", DefaultFirestoreJar))
	}
	host := needEnv(t, "Firestore", "FIRESTORE_EMULATOR_HOST")
	needDial(t, "Firestore", host, "FIRESTORE_EMULATOR_HOST")
	return host
}

// FirestoreClient returns a Firestore client for the emulator in
// FirestoreProject; it is closed when the test ends.
func FirestoreClient(t testing.TB) *firestore.Client {
	t.Helper()
	FirestoreHost(t)
	ctx, cancel := setupContext(t)
	defer cancel()
	// With FIRESTORE_EMULATOR_HOST set, NewClient talks to the emulator without
	// credentials.
	client, err := firestore.NewClient(ctx, FirestoreProject)
	if err != nil {
		t.Fatalf("servertest: Firestore client: %v", err)
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// FirestoreCollection returns the name of a fresh collection in FirestoreProject
// on the emulator. When the test ends, the documents in it are deleted.
func FirestoreCollection(t testing.TB) string {
	t.Helper()
	client := FirestoreClient(t)
	coll := UniqueName(t)
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		it := client.Collection(coll).DocumentRefs(ctx)
		for {
			ref, err := it.Next()
			if errors.Is(err, iterator.Done) {
				return
			}
			if err == nil {
				_, err = ref.Delete(ctx)
			}
			if err != nil {
				t.Errorf("servertest: empty Firestore collection %s: %v", coll, err)
				return
			}
		}
	})
	return coll
}
