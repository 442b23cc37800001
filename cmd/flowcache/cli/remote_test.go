package cli

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/servertest"
	"github.com/flowcache/flowcache/maintain"
)

// The command on caches in buckets, on the real servers of scripts/servers
// (skipped when they are not running, failing in CI): S3 on MinIO, GCS on
// fake-gcs-server, Azure Blob Storage on Azurite, and S3 with the metadata
// in MongoDB (FerretDB).
func TestRemoteCaches(t *testing.T) {
	for _, tc := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"s3", func(t *testing.T) string { return servertest.S3URL(t, servertest.S3Bucket(t), "cache/") }},
		{"gcs", func(t *testing.T) string { return servertest.GCSURL(t, servertest.GCSBucket(t), "cache/") }},
		{"azure", func(t *testing.T) string { return servertest.AzureURL(t, servertest.AzureContainer(t), "cache/") }},
		{"s3+mongo", func(t *testing.T) string {
			// Results in the bucket, metadata in MongoDB (FerretDB): the
			// docstore backend, with its core.EntryRemover.
			_, db := servertest.MongoURL(t)
			return servertest.S3URL(t, servertest.S3Bucket(t), "cache/") + "&metadata=" + url.QueryEscape("mongo://"+db+"/flowcache")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cacheURL := tc.url(t)
			ctx := context.Background()
			var runs []core.RunID
			for _, k := range []int{2, 3} {
				// The code manifests are stored whatever it takes to describe
				// the code (as in the local tests).
				dr, err := driver.NewBuilder().WithNodes(pipeline()...).WithCache(driver.CacheURL(cacheURL), driver.LogToFile(""),
					driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
				if err != nil {
					t.Fatal(err)
				}
				if _, err := dr.Execute(ctx, []string{"scaled"}, driver.Inputs{"n": 8000, "k": k}, nil); err != nil {
					t.Fatal(err)
				}
				id, _ := dr.Cache().LastRunID(ctx)
				runs = append(runs, id)
				dr.Close()
			}
			rs := decode[[]inspect.RunSummary](t, flowcache(t, cacheURL, "runs", "--json"))
			if len(rs) != 2 || rs[1].ID != runs[1] || rs[1].Retrieved != 2 {
				t.Fatalf("runs = %+v", rs)
			}
			r := flowcache(t, cacheURL, "why", "scaled")
			wantCode(t, r, exitOK)
			if !strings.Contains(r.stdout, "input k") {
				t.Errorf("why scaled:\n%s", r.stdout)
			}
			logs := decode[struct {
				Source inspect.LogSource `json:"source"`
				Events []core.Event      `json:"events"`
			}](t, flowcache(t, cacheURL, "logs", "last", "--json"))
			if logs.Source != inspect.SourceRunLog || len(logs.Events) == 0 {
				t.Errorf("logs: source %s, %d events; want the run's log in the bucket", logs.Source, len(logs.Events))
			}
			u := decode[maintain.Usage](t, flowcache(t, cacheURL, "size", "--json"))
			// Four entries of nodes, and the code manifests of their three
			// code versions (three entries, one result).
			if u.Entries != 4+3 || u.Results != 4+1 || u.CodeManifests != 3 {
				t.Errorf("size = %+v", u)
			}
			wantCode(t, flowcache(t, cacheURL, "verify", "--progress", "none"), exitOK)
			rep := decode[maintain.EvictReport](t, flowcache(t, cacheURL, "evict", "--max-entries", "2", "--grace", "0", "--json"))
			nodes := 0
			for _, e := range rep.Entries {
				if e.Node != core.CodeManifestNode {
					nodes++
				}
			}
			// Two entries of nodes go, with the manifests of the code
			// versions no remaining entry has.
			if nodes != 2 || rep.After.Entries != 7-len(rep.Entries) {
				t.Errorf("evict = %+v", rep)
			}
			if vr := decode[maintain.VerifyReport](t, flowcache(t, cacheURL, "verify", "--progress", "none", "--json")); !vr.OK() || vr.Entries != rep.After.Entries {
				t.Errorf("verify after evict = %+v", vr)
			}
		})
	}
}
