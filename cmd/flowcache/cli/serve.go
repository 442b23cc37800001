package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/view/web"
)

func init() {
	commands = append(commands, command{
		name: "serve", args: "", short: "serve a web view of the cache on localhost",
		long: `Serves a web view of the cache (package view/web) until interrupted: the runs,
filtered by date; each run with its drawing, nodes clickable, retrieved nodes
outlined; each node of a run with its key's parts, what its code version
covers, data version, format, size, duration, why it missed and a preview of
small values and tables; what the cache holds by node and format, with a dry
run of an eviction policy. Every page is also JSON (?format=json).

The view only reads the cache; --allow-evict lets its usage page evict for
real. It listens on 127.0.0.1 (this machine only) unless --addr says
otherwise: the pages show node names, values and the cache's layout, so think
before serving them on other interfaces. On a loopback address it answers only
requests to localhost, 127.0.0.1 or ::1 (a page of another site cannot read it
through a name pointed at this machine), and eviction only from its own pages.`,
		examples: `  flowcache serve
  flowcache serve --addr 127.0.0.1:9000 --cache s3://bucket/cache?region=eu-west-1
  flowcache serve --allow-evict`,
		flags: func(fs *flag.FlagSet, o *opts) {
			fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen on `HOST:PORT` (port 0 picks a free one)")
			fs.BoolVar(&o.allowEvict, "allow-evict", false, "let the usage page evict (the view is read-only without it)")
		},
		run: cmdServe,
	})
}

func cmdServe(ctx context.Context, e env, o *opts, c *inspect.Cache, _ []string) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("--addr %s: %w", o.addr, err)}
	}
	var opts []web.Option
	if o.allowEvict {
		opts = append(opts, web.WithEviction())
	}
	srv := &http.Server{Handler: checkHost(ln.Addr(), web.New(c, opts...)), ReadHeaderTimeout: 10 * time.Second}
	mode := "read-only"
	if o.allowEvict {
		mode = "eviction allowed"
	}
	fmt.Fprintf(e.stdout, "serving %s (%s) at http://%s/ (interrupt to stop)\n", core.Redact(cacheURL(o, e)), mode, ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkHost refuses requests whose Host is not the address the view
// listens on, by name or number: on a loopback address only localhost,
// 127.0.0.1 and ::1 are served, so that a page of another site cannot read
// the view through a name it points at 127.0.0.1 (DNS rebinding).
func checkHost(addr net.Addr, h http.Handler) http.Handler {
	tcp, _ := addr.(*net.TCPAddr)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		ok := tcp == nil || !tcp.IP.IsLoopback() || host == "localhost"
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
			ok = true
		}
		if !ok {
			http.Error(w, "flowcache serve: Host "+r.Host+" is not this view's address (use http://"+addr.String()+"/)", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}
