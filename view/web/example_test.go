package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/view/web"
)

func Double(x int) int { return 2 * x }

// A program can serve the web view itself: web.New is an http.Handler over
// any cache package inspect opens (flowcache serve does the same). Here two
// runs of a one-node pipeline, then the runs page as JSON.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "flowcache-web")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	for range 2 {
		d, err := driver.NewBuilder().WithNodes(driver.Node("double", Double, "x")).WithCache(driver.CacheDir(dir)).Build()
		if err != nil {
			panic(err)
		}
		if _, err := d.Execute(ctx, []string{"double"}, driver.Inputs{"x": 21}, nil); err != nil {
			panic(err)
		}
		d.Close()
	}

	c, err := inspect.Open(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	srv := httptest.NewServer(web.New(c)) // or http.ListenAndServe("127.0.0.1:8080", web.New(c))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/?format=json")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var page web.RunsPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		panic(err)
	}
	for _, r := range page.Runs { // newest first
		fmt.Printf("retrieved %d, executed %d\n", r.Retrieved, r.Executed)
	}
	// Output:
	// retrieved 1, executed 0
	// retrieved 0, executed 1
}
