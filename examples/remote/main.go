// Command remote is the quickstart pipeline with its cache in a bucket: S3
// (or MinIO), Google Cloud Storage or Azure Blob Storage, picked by
// FLOWCACHE_URL. Every machine that runs it with the same URL shares the
// cache: what one computed, the others retrieve.
//
//	FLOWCACHE_URL='s3://my-bucket/flowcache?region=eu-west-1' go run ./examples/remote
//	FLOWCACHE_URL='gs://my-bucket/flowcache' go run ./examples/remote
//	FLOWCACHE_URL='azblob://my-container/flowcache' go run ./examples/remote
//
// Against the local servers of scripts/servers:
//
//	scripts/servers start && eval "$(scripts/servers env)"
//	FLOWCACHE_URL="s3://flowcache-demo?endpoint=$FLOWCACHE_TEST_S3_ENDPOINT&use_path_style=true&disable_https=true&region=us-east-1" \
//	  go run ./examples/remote -create
//
// -metadata keeps the metadata in a document database while results stay in
// the bucket:
//
//	go run ./examples/remote -metadata 'dynamodb://flowcache?region=eu-west-1'
//
// -create creates the bucket first when it does not exist (MinIO, fake GCS
// and Azurite only need the name; on a cloud, create it with its console or
// CLI, where you choose region and access). Credentials come from each SDK's
// usual chain (see the backends' package docs), never from the URL.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"

	_ "github.com/flowcache/flowcache/backends/azure"    // azblob://
	_ "github.com/flowcache/flowcache/backends/docstore" // metadata in dynamodb://, firestore://, mongo://
	_ "github.com/flowcache/flowcache/backends/gcs"      // gs://
	_ "github.com/flowcache/flowcache/backends/s3"       // s3://
	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/examples/internal/sales"
)

func main() {
	data := flag.String("data", sales.DefaultData(), "CSV file to read")
	storeURL := flag.String("url", os.Getenv(driver.EnvURL), "store URL (default $"+driver.EnvURL+")")
	metadata := flag.String("metadata", "", "keep the metadata in this store instead (dynamodb://…, firestore://…, mongo://…), added to the URL as its metadata parameter")
	create := flag.Bool("create", false, "create the bucket or container first if it does not exist (local test servers)")
	debug := flag.Bool("debug", false, "print every cache event, not only the INFO ones")
	flag.Parse()
	if *metadata != "" {
		sep := "?"
		if strings.Contains(*storeURL, "?") {
			sep = "&"
		}
		*storeURL += sep + core.MetadataParam + "=" + url.QueryEscape(*metadata)
	}
	if err := run(*storeURL, *data, *create, *debug); err != nil {
		fmt.Fprintln(os.Stderr, "remote:", err)
		os.Exit(1)
	}
}

func run(storeURL, data string, create, debug bool) error {
	ctx := context.Background()
	if storeURL == "" {
		return fmt.Errorf("no store URL: set %s (e.g. s3://bucket/prefix?region=eu-west-1) or pass -url", driver.EnvURL)
	}
	if create {
		if err := createBucket(ctx, storeURL); err != nil {
			return err
		}
	}
	fmt.Println("cache:", redact(storeURL))
	return sales.Run(ctx, os.Stdout, data, debug, driver.CacheURL(storeURL))
}

// redact returns the URL as it may be printed.
func redact(raw string) string {
	u, err := parseURL(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return core.RedactURL(u)
}
