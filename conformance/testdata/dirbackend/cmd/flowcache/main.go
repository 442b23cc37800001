// Command flowcache is flowcache's command with dir:// linked in beside the
// schemes of flowcache itself:
//
//	go build -o flowcache ./cmd/flowcache
//	./flowcache --cache dir:///tmp/dirstore runs
package main

import (
	"os"

	_ "example.com/dirbackend" // registers dir://
	"github.com/flowcache/flowcache/cmd/flowcache/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
