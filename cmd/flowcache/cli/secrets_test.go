package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowcache/flowcache/core"
	"github.com/flowcache/flowcache/driver"
	"github.com/flowcache/flowcache/inspect"
	"github.com/flowcache/flowcache/internal/servertest"
)

// secret is put in every position of a URL where a secret goes; it must
// appear in no error, log, event, run log or command output.
const secret = "Zk9SECRETq7w"

// secretCase is a cache string with the secret somewhere in it.
type secretCase struct {
	name string
	// url returns the cache string (the servers it needs are checked
	// there, so a case skips alone when they are down).
	url func(t *testing.T) string
	// env is set for the driver, inspect and the command.
	env map[string]string
	// opens: the cache opens on the real servers; the pipeline runs twice
	// and the command reads both runs.
	opens bool
	// logFile: the stores keep no run logs (local results, metadata
	// elsewhere): the driver logs to a file.
	logFile bool
	// want is what the error of a cache that does not open must say.
	want []string
}

func secretCases() []secretCase {
	// dir is an existing cache directory: its parameters are checked when
	// it is opened (a missing one is "no flowcache cache" to the command).
	dir := func(t *testing.T) string {
		d := filepath.Join(t.TempDir(), "cache")
		st, err := core.OpenURL(context.Background(), d)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Close(); err != nil {
			t.Fatal(err)
		}
		return d
	}
	withSecretUser := func(endpoint string) string {
		u, err := url.Parse(endpoint)
		if err != nil {
			panic(err)
		}
		u.User = url.UserPassword("user", secret)
		return u.String()
	}
	s3Endpoint := func(t *testing.T, bucket, endpoint string) string {
		return "s3://" + bucket + "/cache?endpoint=" + endpoint + "&use_path_style=true&disable_https=true&region=us-east-1"
	}
	dynamoMeta := func(t *testing.T, endpoint string) string {
		return url.QueryEscape("dynamodb://" + servertest.UniqueName(t) + "?create_table=true&region=us-east-1&endpoint=" + endpoint)
	}
	return []secretCase{
		// Caches that open, with the secret inside URL-valued parameters.
		{name: "path?metadata=dynamodb with a password in its endpoint", opens: true, logFile: true, url: func(t *testing.T) string {
			return dir(t) + "?inline_limit=0&metadata=" + dynamoMeta(t, withSecretUser(servertest.DynamoDBEndpoint(t)))
		}},
		{name: "s3 with a password in its endpoint", opens: true, url: func(t *testing.T) string {
			return s3Endpoint(t, servertest.S3Bucket(t), withSecretUser(servertest.S3Endpoint(t)))
		}},
		{name: "s3 with a password in its endpoint, metadata=dynamodb with one in its own", opens: true, url: func(t *testing.T) string {
			return s3Endpoint(t, servertest.S3Bucket(t), withSecretUser(servertest.S3Endpoint(t))) +
				"&metadata=" + dynamoMeta(t, withSecretUser(servertest.DynamoDBEndpoint(t)))
		}},
		// Plain paths with a query.
		{name: "path?password=", want: []string{`unknown URL parameter "password"`, "file://"},
			url: func(t *testing.T) string { return dir(t) + "?password=" + secret }},
		{name: "path with a misspelt parameter", want: []string{`unknown URL parameter "pasword"`},
			url: func(t *testing.T) string { return dir(t) + "?inline_limit=0&pasword=" + secret }},
		{name: "path with a bad query", want: []string{"bad query parameters", `"%zz"`},
			url: func(t *testing.T) string { return dir(t) + "?a=%zz&token=" + secret }},
		{name: "path?metadata=mongo with user info", want: []string{"mongo URL with user info", "MONGO_SERVER_URL"},
			url: func(t *testing.T) string { return dir(t) + "?metadata=mongo://user:" + secret + "@db/coll" }},
		{name: "path?metadata=a mongodb connection string", want: []string{`no metadata backend for scheme "mongodb"`},
			url: func(t *testing.T) string {
				return dir(t) + "?metadata=mongodb://user:" + secret + "@127.0.0.1:27017/db?authSource=admin"
			}},
		{name: "path?metadata=dynamodb with a session token", want: []string{`unknown URL parameter "aws_session_token"`},
			url: func(t *testing.T) string {
				return dir(t) + "?metadata=" + url.QueryEscape("dynamodb://t?region=us-east-1&aws_session_token="+secret)
			}},
		{name: "path?metadata=mongo, MONGO_SERVER_URL with a password", want: []string{"mongo", "auth"},
			env: map[string]string{"MONGO_SERVER_URL": "mongodb://user:" + secret + "@127.0.0.1:27017/"},
			url: func(t *testing.T) string { servertest.MongoURL(t); return dir(t) + "?metadata=mongo://db/coll" }},
		{name: "path?metadata=mongo, MONGO_SERVER_URL unreachable with a password", want: []string{"MONGO_SERVER_URL"},
			env: map[string]string{"MONGO_SERVER_URL": "mongodb://user:" + secret + "@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"},
			url: func(t *testing.T) string { return dir(t) + "?metadata=mongo://db/coll" }},
		// Buckets.
		{name: "s3 user info", want: []string{"s3 URL with user info", "s3://AKIAEXAMPLE:xxxxx@"},
			url: func(t *testing.T) string { return "s3://AKIAEXAMPLE:" + secret + "@bucket/cache?region=us-east-1" }},
		{name: "s3 endpoint unreachable, with a password", want: []string{`bucket "flowcache-unreachable"`, "127.0.0.1:1"},
			url: func(t *testing.T) string {
				return s3Endpoint(t, "flowcache-unreachable", withSecretUser("http://127.0.0.1:1"))
			}},
		{name: "s3 presigned-style parameters", want: []string{`"X-Amz-Credential"`, `"X-Amz-Signature"`},
			url: func(t *testing.T) string {
				return "s3://bucket/cache?region=us-east-1&X-Amz-Credential=" + secret + "&X-Amz-Signature=" + secret
			}},
		{name: "gs user info", want: []string{"gs URL with user info"},
			url: func(t *testing.T) string { return "gs://user:" + secret + "@bucket/cache" }},
		{name: "gs access token", want: []string{`unknown URL parameter "access_token"`},
			url: func(t *testing.T) string { return "gs://bucket/cache?access_token=" + secret }},
		{name: "azblob user info", want: []string{"azblob URL with user info"},
			url: func(t *testing.T) string { return "azblob://account:" + secret + "@container/cache" }},
		{name: "azblob SAS", want: []string{`unknown URL parameter "se", "sig", "sv"`},
			url: func(t *testing.T) string { return "azblob://container/cache?sv=2022-11-02&se=2030-01-01&sig=" + secret }},
		{name: "azblob connection string", want: []string{`unknown URL parameter "connection"`},
			url: func(t *testing.T) string {
				return "azblob://container/cache?connection=" + url.QueryEscape("AccountName=a;AccountKey="+secret+"==;BlobEndpoint=http://127.0.0.1:1/a")
			}},
		{name: "mem?metadata=dynamodb unreachable, with a password in its endpoint", want: []string{"opening metadata dynamodb://"},
			url: func(t *testing.T) string {
				return "mem://secrets?metadata=" + dynamoMeta(t, withSecretUser("http://127.0.0.1:1"))
			}},
		// Strings that name no store.
		{name: "a mongodb connection string as the cache", want: []string{`no backend for scheme "mongodb"`},
			url: func(t *testing.T) string { return "mongodb://user:" + secret + "@127.0.0.1:27017/db" }},
		{name: "a password with an unescaped slash", want: []string{"bad store URL", "does not parse"},
			url: func(t *testing.T) string { return "s3://user:pa/ss" + secret + "@bucket/cache" }},
	}
}

// TestSecretsNeverPrinted opens caches with a secret in every position
// through the driver (Build and Execute, with a logger at debug level and
// run logs), package inspect and the built flowcache command (every
// command, by --cache and by $FLOWCACHE_URL), and checks that the secret
// is in no error, log, event, run log or output, while the errors still
// say what is wrong. The caches that must open do, on the real servers of
// scripts/servers.
func TestSecretsNeverPrinted(t *testing.T) {
	bin := buildCommand(t)
	var defaultLog bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&defaultLog, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	ctx := context.Background()
	var leaks atomic.Int64
	check := func(t *testing.T, where, text string) {
		t.Helper()
		if strings.Contains(text, secret) {
			leaks.Add(1)
			t.Errorf("%s shows the secret:\n%s", where, text)
		}
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range secretCases() {
			t.Run(tc.name, func(t *testing.T) {
				if tc.env == nil {
					t.Parallel()
				}
				raw := tc.url(t) // first: the servertest helpers read the servers' own environment
				for k, v := range tc.env {
					t.Setenv(k, v)
				}
				if !strings.Contains(raw, secret) && tc.env == nil {
					t.Fatalf("the case has no secret: %s", raw)
				}

				// The driver.
				var logs bytes.Buffer
				logTo, logFile := driver.LogToFile(""), ""
				if tc.logFile {
					logFile = filepath.Join(t.TempDir(), "events.jsonl")
					logTo = driver.LogToFile(logFile)
				}
				logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				var runs []core.RunID
				var buildErr error
				for _, k := range []int{2, 3} {
					dr, err := driver.NewBuilder().WithNodes(pipeline()...).WithCache(driver.CacheURL(raw), logTo,
						driver.CacheLogger(logger), driver.CacheCoreOptions(core.WithManifestWait(time.Minute))).Build()
					if err != nil {
						buildErr = err
						check(t, "Build's error", err.Error())
						break
					}
					_, err = dr.Execute(ctx, []string{"scaled"}, driver.Inputs{"n": 1000, "k": k}, nil)
					if err != nil {
						check(t, "Execute's error", err.Error())
					}
					id, _ := dr.Cache().LastRunID(ctx)
					runs = append(runs, id)
					for _, ev := range dr.Cache().Events(slog.LevelDebug, "") {
						b, _ := json.Marshal(ev)
						check(t, "an event", ev.String()+" "+string(b))
					}
					if err := dr.Close(); err != nil {
						check(t, "Close's error", err.Error())
					}
				}
				check(t, "the driver's log", logs.String())
				if logFile != "" {
					b, err := os.ReadFile(logFile)
					if tc.opens && (err != nil || len(b) == 0) {
						t.Errorf("no event log file: %v", err)
					}
					check(t, "the event log file", string(b))
				}
				if tc.opens && (buildErr != nil || len(runs) != 2) {
					t.Fatalf("the driver did not open the cache: %v", buildErr)
				}
				if !tc.opens {
					// The error (or, if the run went on without the cache,
					// the warning) says what is wrong.
					text := logs.String()
					if buildErr != nil {
						text = buildErr.Error() + "\n" + text
					}
					for _, w := range tc.want {
						// The JSON log escapes the quotes of the message.
						if !strings.Contains(text, w) && !strings.Contains(text, strings.ReplaceAll(w, `"`, `\"`)) {
							t.Errorf("the driver's error does not say %q:\n%s", w, text)
						}
					}
				}

				// Package inspect.
				ic, err := inspect.Open(ctx, raw)
				if err != nil {
					check(t, "inspect.Open's error", err.Error())
				} else {
					if rs, err := ic.Runs(ctx); err != nil {
						check(t, "inspect's Runs error", err.Error())
					} else if tc.opens && len(rs) != 2 {
						t.Errorf("inspect found %d runs, want the driver's 2", len(rs))
					}
					if tc.opens {
						evs, _, err := ic.Logs(ctx, runs[1], slog.LevelDebug)
						if err != nil {
							t.Errorf("inspect's Logs: %v", err)
						}
						b, _ := json.Marshal(evs)
						check(t, "the run log", string(b))
					}
					ic.Close()
				} // a cache that opens for the driver may not for inspect: mem:// lives in one process
				if tc.opens && err != nil {
					t.Fatalf("inspect did not open what the driver opened: %v", err)
				}

				// The command, every command.
				commands := [][]string{
					{"runs"}, {"logs", "last", "--level", "debug"}, {"why", "scaled"}, {"verify", "--progress", "lines"},
					{"evict", "--gc", "--max-entries", "1", "--grace", "0", "--dry-run"},
				}
				if tc.opens {
					// A cache that opens: the rest too (one that does not
					// fails the same way in every command).
					commands = append(commands, []string{"runs", "--json"}, []string{"nodes", "last", "--keys"}, []string{"logs", "last", "--jsonl"},
						[]string{"size"}, []string{"draw", "last", "-o", filepath.Join(t.TempDir(), "run.svg")})
				}
				if testing.Short() {
					commands = commands[:1]
				}
				for _, args := range commands {
					r := runCommandBinary(t, bin, nil, append([]string{"--cache", raw}, args...)...)
					check(t, "flowcache "+strings.Join(args, " "), r.stdout+r.stderr)
					if !tc.opens {
						if r.code == exitOK {
							// mem:// opens in any process (empty): the
							// command then says there is nothing.
							continue
						}
						for _, w := range tc.want {
							if !strings.Contains(r.stderr, w) {
								t.Errorf("flowcache %s does not say %q:\n%s", strings.Join(args, " "), w, r.stderr)
							}
						}
					} else if r.code != exitOK {
						t.Errorf("flowcache %s: exit code %d:\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
					}
				}
				// The same cache named by $FLOWCACHE_URL.
				r := runCommandBinary(t, bin, []string{driver.EnvURL + "=" + raw}, "runs", "--json")
				check(t, "FLOWCACHE_URL=… flowcache runs", r.stdout+r.stderr)
				if tc.opens {
					var rs []inspect.RunSummary
					if err := json.Unmarshal([]byte(r.stdout), &rs); err != nil || len(rs) != 2 || rs[0].ID != runs[0] || rs[1].ID != runs[1] || rs[1].Retrieved != 2 {
						t.Errorf("the command does not see the driver's runs %v: %v\n%s%s", runs, err, r.stdout, r.stderr)
					}
				}
				// The URL given as an argument by mistake.
				r = runCommandBinary(t, bin, nil, "runs", raw)
				check(t, "flowcache runs URL", r.stdout+r.stderr)
				if r.code != exitUsage || !strings.Contains(r.stderr, "want no arguments") || !strings.Contains(r.stderr, "--cache") {
					t.Errorf("flowcache runs URL: exit %d, %s", r.code, r.stderr)
				}
			})
		}
	})
	check(t, "the default logger", defaultLog.String())
	t.Logf("%d cache strings, %d leaks", len(secretCases()), leaks.Load())

	// With AWS_EC2_METADATA_DISABLED=true (set by scripts/servers env,
	// .ci/run and package servertest), an s3:// URL without credentials
	// fails at once, saying why, without asking the instance-metadata
	// address.
	t.Run("s3 without credentials", func(t *testing.T) {
		ep := servertest.S3Endpoint(t)
		if got := os.Getenv("AWS_EC2_METADATA_DISABLED"); got != "true" {
			t.Fatalf("AWS_EC2_METADATA_DISABLED=%q in the tests, want true", got)
		}
		env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "AWS_EC2_METADATA_DISABLED=true"}
		c := exec.Command(bin, "--cache", "s3://flowcache-no-credentials?region=us-east-1&use_path_style=true&disable_https=true&endpoint="+ep, "runs")
		c.Env = env
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		start := time.Now()
		err := c.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
			t.Fatalf("flowcache runs without credentials: %v\n%s", err, &out)
		}
		if !strings.Contains(out.String(), "AWS_EC2_METADATA_DISABLED") || strings.Contains(out.String(), "IMDSv1") {
			t.Errorf("the error does not say the instance metadata was not asked:\n%s", &out)
		}
		t.Logf("failed in %v: %s", time.Since(start).Round(time.Millisecond), &out)
	})
}

// buildCommand builds the flowcache command (the main package above) into a temporary directory and
// returns its path.
func buildCommand(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "flowcache")
	start := time.Now()
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build: %v", time.Since(start).Round(time.Millisecond))
	return bin
}

// runCommandBinary runs the built command with the test's environment and
// env.
func runCommandBinary(t *testing.T, bin string, env []string, args ...string) result {
	t.Helper()
	c := exec.Command(bin, args...)
	c.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return result{c.ProcessState.ExitCode(), out.String(), errb.String()}
}

// TestOpensWhatTheDriverOpens: the command reads a cache string as the
// driver does (core.ParseStoreURL): a path with query parameters, a
// relative one, a file URL, a mem:// store of the same process.
func TestOpensWhatTheDriverOpens(t *testing.T) {
	t.Chdir(t.TempDir())
	abs, err := filepath.Abs("abs")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, raw := range []string{
		abs + "?inline_limit=0&busy_timeout=5s",
		"rel/cache?inline_limit=0",
		"file://" + filepath.ToSlash(abs) + "2?inline_limit=0",
		"mem://" + t.Name(),
	} {
		dr, err := driver.NewBuilder().WithNodes(pipeline()...).WithCache(driver.CacheURL(raw), driver.LogToFile("")).Build()
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		if _, err := dr.Execute(ctx, []string{"scaled"}, driver.Inputs{"n": 100, "k": 2}, nil); err != nil {
			t.Fatal(err)
		}
		id, _ := dr.Cache().LastRunID(ctx)
		dr.Close()
		r := flowcache(t, raw, "runs", "--json")
		wantCode(t, r, exitOK)
		if rs := decode[[]inspect.RunSummary](t, r); len(rs) != 1 || rs[0].ID != id {
			t.Errorf("%s: the command lists %+v, want the driver's run %s", raw, rs, id)
		}
	}
	// The queries named no directory.
	for _, d := range []string{"abs", "rel/cache", "abs2"} {
		if _, err := os.Stat(filepath.Join(d, "metadata.db")); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	if m, _ := filepath.Glob("*\\?*"); len(m) > 0 {
		t.Errorf("directories named after a query: %v", m)
	}
}
