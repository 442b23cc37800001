package servertest

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/bloberror"
)

// AzureConnectionString returns AZURE_STORAGE_CONNECTION_STRING (Azurite's
// devstoreaccount1 with BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1
// under scripts/servers) after checking that its BlobEndpoint answers. A
// connection string without a BlobEndpoint (a real account) is refused: the
// tests create and delete containers.
func AzureConnectionString(t testing.TB) string {
	t.Helper()
	cs := needEnv(t, "Azure Blob", "AZURE_STORAGE_CONNECTION_STRING")
	ep := connectionStringValue(cs, "BlobEndpoint")
	if ep == "" {
		unavailable(t, "Azure Blob", "AZURE_STORAGE_CONNECTION_STRING has no BlobEndpoint (servertest needs a local Azurite)")
	}
	hp, err := endpointHostPort(ep)
	if err != nil {
		unavailable(t, "Azure Blob", "BlobEndpoint of AZURE_STORAGE_CONNECTION_STRING: "+err.Error())
	}
	needDial(t, "Azure Blob", hp, "AZURE_STORAGE_CONNECTION_STRING")
	return cs
}

// connectionStringValue returns the value of key in an Azure connection string
// (key=value pairs separated by semicolons; keys are case-insensitive).
func connectionStringValue(cs, key string) string {
	for _, part := range strings.Split(cs, ";") {
		k, v, ok := strings.Cut(part, "=")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// AzureClient returns an azblob client for Azurite, from the connection string.
// A request that gets no answer within azureTryTimeout is tried again: CI once
// saw a CreateContainer hang until its one-minute deadline while Azurite was
// loaded by the other packages' tests, and a stalled try must not fail a test
// whose next try would succeed.
func AzureClient(t testing.TB) *azblob.Client {
	t.Helper()
	opts := &azblob.ClientOptions{}
	opts.Retry = policy.RetryOptions{MaxRetries: 6, TryTimeout: azureTryTimeout}
	client, err := azblob.NewClientFromConnectionString(AzureConnectionString(t), opts)
	if err != nil {
		t.Fatalf("servertest: Azure client: %v", err)
	}
	return client
}

// azureTryTimeout bounds one try of a request to Azurite made by the helpers.
const azureTryTimeout = 20 * time.Second

// AzureContainer creates a new, uniquely named container (3–63 lowercase
// letters, digits and single hyphens) on Azurite and returns its name. When the
// test ends, the container and its blobs are deleted.
func AzureContainer(t testing.TB) string {
	t.Helper()
	client := AzureClient(t)
	container := UniqueName(t)
	ctx, cancel := setupContext(t)
	defer cancel()
	// The name is this test's alone, so ContainerAlreadyExists means a try
	// that timed out had created it (the client tried again): CI saw it.
	if _, err := client.CreateContainer(ctx, container, nil); err != nil && !bloberror.HasCode(err, bloberror.ContainerAlreadyExists) {
		t.Fatalf("servertest: create Azure container %s: %v", container, err)
	}
	t.Cleanup(func() {
		ctx, cancel := cleanupContext()
		defer cancel()
		_, err := client.DeleteContainer(ctx, container, nil)
		if err != nil && !bloberror.HasCode(err, bloberror.ContainerNotFound, bloberror.ContainerBeingDeleted) {
			t.Errorf("servertest: delete Azure container %s: %v", container, err)
		}
	})
	return container
}

// AzureURL returns the flowcache URL of a container and key prefix on Azurite:
// azblob://CONTAINER/PREFIX (azblob://CONTAINER for an empty prefix). The
// account is found through AZURE_STORAGE_CONNECTION_STRING.
func AzureURL(t testing.TB, container, prefix string) string {
	t.Helper()
	AzureConnectionString(t)
	return joinPrefix("azblob://"+container, prefix)
}
