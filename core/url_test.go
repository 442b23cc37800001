package core_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcache/flowcache/core"
)

const secret = "Zk9SECRETq7w"

func TestRedact(t *testing.T) {
	esc := url.QueryEscape
	for _, tc := range []struct {
		in   string
		want []string // kept
	}{
		// userinfo
		{"s3://AKIA:" + secret + "@bucket/p?region=r", []string{"s3://AKIA:xxxxx@bucket/p?region=r"}},
		{"mongodb+srv://u:" + secret + "@h1:1,h2:2/db", []string{"mongodb+srv://u:xxxxx@h1:1,h2:2/db"}},
		{"s3://u:p%40ss" + secret + "@bucket", []string{"s3://u:xxxxx@bucket"}},
		// unescaped '@', '/', '?' in a password: url.Parse fails or misreads
		{"s3://u:p@ss" + secret + "@bucket/p", []string{"s3://u:xxxxx@bucket/p"}},
		{"s3://u:pa/ss" + secret + "@bucket/p?region=r", []string{"s3://u:xxxxx@bucket/p?region=r"}},
		{"s3://u:pa?ss" + secret + "@bucket/p?region=r", []string{"s3://u:xxxxx@bucket/p?region=r"}},
		// secret parameters, any case
		{"file:///c?password=" + secret + "&inline_limit=0", []string{"password=xxxxx&inline_limit=0"}},
		{"s3://b?X-Amz-Security-Token=" + secret + "&X-Amz-Credential=" + secret + "&X-Amz-Signature=" + secret, []string{"X-Amz-Security-Token=xxxxx&X-Amz-Credential=xxxxx&X-Amz-Signature=xxxxx"}},
		{"azblob://c?sv=2022&SIG=" + secret + "&sas_token=" + secret, []string{"sv=2022&SIG=xxxxx&sas_token=xxxxx"}},
		{"gs://b?access_token=" + secret + "&api_key=" + secret + "&client_secret=" + secret + "&passphrase=" + secret + "&pwd=" + secret, []string{"access_token=xxxxx&api_key=xxxxx&client_secret=xxxxx&passphrase=xxxxx&pwd=xxxxx"}},
		{"s3://b?region=r#token=" + secret, []string{"s3://b?region=r#token=xxxxx"}},
		// URL-valued parameters, escaped or not
		{"s3://b/p?endpoint=http://u:" + secret + "@127.0.0.1:9000&region=r", []string{"endpoint=http://u:xxxxx@127.0.0.1:9000&region=r"}},
		{"s3://b/p?endpoint=" + esc("http://u:"+secret+"@127.0.0.1:9000") + "&region=r", []string{"endpoint=" + esc("http://u:xxxxx@127.0.0.1:9000") + "&region=r"}},
		{"s3://b?metadata=" + esc("dynamodb://t?region=r&endpoint="+esc("http://u:"+secret+"@h:1")), []string{"s3://b?metadata=", "dynamodb", "xxxxx"}},
		{"mem://x?metadata=mongo://u:" + secret + "@db/coll", []string{"mem://x?metadata=mongo://u:xxxxx@db/coll"}},
		// plain paths with a query
		{"/tmp/c?metadata=mongodb://u:" + secret + "@127.0.0.1/db?authSource=admin", []string{"/tmp/c?metadata=mongodb://u:xxxxx@127.0.0.1/db?authSource=admin"}},
		{"cache?metadata=" + esc("mongo://u:"+secret+"@h/db/coll"), []string{"cache?metadata=" + esc("mongo://u:xxxxx@h/db/coll")}},
		{"/tmp/c?a=%zz&token=" + secret, []string{"/tmp/c?a=%zz&token=xxxxx"}},
		// connection strings, in a parameter
		{"azblob://c?cs=" + esc("AccountName=a;AccountKey="+secret+"==;BlobEndpoint=http://u:"+secret+"@h/"), []string{"azblob://c?cs=", "AccountName%3Da", "xxxxx"}},
		{"azblob://c?cs=AccountName=a;AccountKey=" + secret + "==;EndpointSuffix=x", []string{"cs=AccountName=a;AccountKey=xxxxx;EndpointSuffix=x"}},
		// nothing secret: unchanged
		{"s3://bucket/team/cache?region=eu-west-1&endpoint=http://127.0.0.1:9000&use_path_style=true", []string{"s3://bucket/team/cache?region=eu-west-1&endpoint=http://127.0.0.1:9000&use_path_style=true"}},
		{"/var/cache/flow", []string{"/var/cache/flow"}},
		{"gs://bucket/a@b/c:d", []string{"gs://bucket/a@b/c:d"}},
		{"gs://h:1/p?email=a@b.c", []string{"gs://h:1/p?email=a@b.c"}},
		{"mongo://db/coll?create_indexes=false", []string{"mongo://db/coll?create_indexes=false"}},
	} {
		got := core.Redact(tc.in)
		if strings.Contains(got, secret) || strings.Contains(got, "ss"+secret) {
			t.Errorf("Redact(%s) = %s: the secret is still there", tc.in, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("Redact(%s) = %s, want it to contain %s", tc.in, got, w)
			}
		}
		if tc.want[0] == tc.in && got != tc.in {
			t.Errorf("Redact(%s) = %s, want it unchanged", tc.in, got)
		}
		if again := core.Redact(got); again != got {
			t.Errorf("Redact is not idempotent: %s, then %s", got, again)
		}
	}
	for _, name := range []string{"Password", "passwd", "pwd", "client_secret", "token", "AccountKey", "sig", "sas", "X-Amz-Credential", "Authorization", "cookie"} {
		if got := core.Redact("s3://b?" + name + "=" + secret); got != "s3://b?"+name+"=xxxxx" {
			t.Errorf("parameter %s: Redact = %s", name, got)
		}
	}
	u, _ := url.Parse("s3://u:" + secret + "@b?token=" + secret)
	if got := core.RedactURL(u); got != "s3://u:xxxxx@b?token=xxxxx" {
		t.Errorf("RedactURL = %s", got)
	}
}

func TestParseStoreURL(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, scheme, dir string
	}{
		{"/tmp/c", "file", "/tmp/c"},
		{"/tmp/c?inline_limit=0", "file", "/tmp/c"},
		// A URL in a parameter does not make a path a URL.
		{"/tmp/c?metadata=mongo://u:" + secret + "@h/db/coll", "file", "/tmp/c"},
		{"cache?metadata=dynamodb://t?region=r", "file", filepath.Join(wd, "cache")},
		{"./a:b/c", "file", filepath.Join(wd, "a:b/c")},
		{"file:///tmp/c?inline_limit=0", "file", "/tmp/c"},
		{"file://localhost/tmp/c", "file", "/tmp/c"},
		{"file://elsewhere/tmp/c", "file", ""},
		{"S3://bucket/p?region=r", "s3", ""},
		{"mem://x", "mem", ""},
	} {
		su, err := core.ParseStoreURL(tc.in)
		if err != nil {
			t.Errorf("ParseStoreURL(%s): %v", tc.in, err)
			continue
		}
		if su.Scheme() != tc.scheme || su.Dir() != tc.dir {
			t.Errorf("ParseStoreURL(%s) = scheme %q, dir %q; want %q, %q", tc.in, su.Scheme(), su.Dir(), tc.scheme, tc.dir)
		}
		if s := su.String(); strings.Contains(s, secret) || s != core.Redact(tc.in) {
			t.Errorf("String() = %s, want the string redacted", s)
		}
	}
	for in, want := range map[string]string{
		"":                                    "empty store URL",
		"?inline_limit=0":                     "no directory before the query",
		"/tmp/c?a=%zz&password=" + secret:     `bad query parameters: invalid URL escape "%zz"`,
		"s3://b%zz:" + secret + "@x":          `invalid URL escape "%zz"`,
		"s3://u:pa/ss" + secret + "@bucket/p": "s3://u:xxxxx@bucket/p: its user info does not parse",
		"s3://u:p%zz" + secret + "@bucket":    "s3://u:xxxxx@bucket: its user info does not parse",
	} {
		_, err := core.ParseStoreURL(in)
		if !errors.Is(err, core.ErrInvalid) || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), secret) {
			t.Errorf("ParseStoreURL(%q) = %v, want ErrInvalid saying %q without the secret", in, err, want)
		}
	}
}

// The command, package inspect and the driver open a string the same way:
// a plain path's query is the store's parameters, not part of its name.
func TestOpenURLPlainPathWithQuery(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "c")
	for _, raw := range []string{dir + "?inline_limit=0&busy_timeout=5s", "file://" + dir + "?inline_limit=0", dir} {
		st, err := core.OpenURL(ctx, raw)
		if err != nil {
			t.Fatalf("OpenURL(%s): %v", raw, err)
		}
		st.Close()
	}
	entries, _ := os.ReadDir(filepath.Dir(dir))
	if len(entries) != 1 || entries[0].Name() != "c" {
		t.Errorf("the directory holds %v, want only c", entries)
	}
}

func TestOpenURLHidesUnknownParameters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for raw, want := range map[string][]string{
		// A misspelt name is not known to be secret; it is unknown, so its
		// value is hidden.
		dir + "?pasword=" + secret + "&inline_limit=0":                    {`unknown URL parameter "pasword"`, "pasword=xxxxx&inline_limit=0", "file://"},
		"file://" + dir + "?colour=" + secret:                             {`unknown URL parameter "colour" (file:// takes inline_limit, busy_timeout, mode)`, "colour=xxxxx"},
		"mem://x?metadata=" + url.QueryEscape("nosuch://u:"+secret+"@db"): {`no metadata backend for scheme "nosuch"`, "nosuch://u:xxxxx@db"},
		dir + "?metadata=" + url.QueryEscape("/tmp/m?token="+secret):      {"metadata URL /tmp/m?token=xxxxx has no scheme"},
		dir + "?inline_limit=" + url.QueryEscape("http://u:"+secret+"@h"): {`inline_limit="http://u:xxxxx@h": not an integer`},
		"nosuch://u:" + secret + "@b?token=" + secret:                     {`no backend for scheme "nosuch" in store URL nosuch://u:xxxxx@b?token=xxxxx`},
	} {
		_, err := core.OpenURL(ctx, raw)
		if err == nil {
			t.Fatalf("OpenURL(%s) succeeded", raw)
		}
		if !errors.Is(err, core.ErrInvalid) || strings.Contains(err.Error(), secret) {
			t.Errorf("OpenURL(%s) = %v, want ErrInvalid without the secret", raw, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("OpenURL(%s) = %v, want it to say %s", raw, err, w)
			}
		}
	}
}

func TestRedactError(t *testing.T) {
	raw := "s3://b?endpoint=" + url.QueryEscape("http://u:p@ss/"+secret+"@h") + "&token=" + secret
	base := fmt.Errorf("get %s and %s and %s: %w", "p@ss/"+secret, url.QueryEscape("p@ss/"+secret), url.PathEscape("p@ss/"+secret), core.ErrNotFound)
	err := core.RedactError(base, raw)
	if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "xxxxx") {
		t.Errorf("RedactError = %v", err)
	}
	if !errors.Is(err, core.ErrNotFound) {
		t.Errorf("RedactError lost the chain: %v", err)
	}
	if core.RedactError(nil, raw) != nil {
		t.Error("RedactError(nil) != nil")
	}
	if clean := errors.New("nothing secret"); core.RedactError(clean, raw) != clean {
		t.Error("RedactError wrapped an error that holds no secret")
	}
}

// secretTemplates returns store URLs with sec in every position, escaped
// as each position needs.
func secretTemplates(sec string) []string {
	q, p := url.QueryEscape(sec), url.UserPassword("u", sec).String()
	out := []string{
		"s3://" + p + "@bucket/p?region=r",
		"file:///c?password=" + q,
		"/tmp/c?inline_limit=0&token=" + q,
		"s3://b?endpoint=" + url.QueryEscape("http://"+p+"@h:1") + "&region=r",
		"/tmp/c?metadata=" + url.QueryEscape("mongo://"+p+"@h/db/coll?x=1"),
		"mem://x?metadata=" + url.QueryEscape("dynamodb://t?endpoint="+url.QueryEscape("http://"+p+"@h")),
		"gs://b/p?X-Goog-Signature=" + q + "#frag",
	}
	if !strings.ContainsAny(sec, ";&") {
		// A connection string in a parameter (its values hold no ';').
		out = append(out, "azblob://c?cs="+url.QueryEscape("AccountName=a;AccountKey="+sec+";BlobEndpoint=http://h"))
	}
	if !strings.ContainsAny(p, "&;#") {
		// A URL in a parameter, unescaped (as people write them).
		out = append(out, "s3://b?endpoint=http://"+p+"@h:1&region=r")
	}
	return out
}

// FuzzRedact puts a secret in every position of a store URL and checks that
// Redact and RedactError never show it, in any of its escaped forms; and
// that no input makes them or ParseStoreURL panic.
func FuzzRedact(f *testing.F) {
	for _, s := range []string{secret, "p@ss/w?rd#1", "a+b c%2F", "x;y&z=w", "ünïcode", "region"} {
		f.Add(s, "")
	}
	f.Add("", "s3://u:p@b?x=%zz&y=http://u:p@h")
	const placeholder = "QQQQQQ"
	f.Fuzz(func(t *testing.T, sec, anything string) {
		core.Redact(anything)
		core.RedactError(errors.New(anything), anything)
		core.ParseStoreURL(anything)
		if len(sec) < 6 || strings.Contains(sec, placeholder) {
			return
		}
		p := url.UserPassword("u", sec).String()[2:]
		forms := []string{sec, url.QueryEscape(sec), url.PathEscape(sec), p, url.QueryEscape(p)}
		skeletons := secretTemplates(placeholder)
		for i, tmpl := range secretTemplates(sec) {
			red := core.Redact(tmpl)
			// A form of the secret that the URL shows anyway (sec =
			// "region") is not a leak.
			skeleton := core.Redact(skeletons[i])
			for _, form := range forms {
				if strings.Contains(red, form) && !strings.Contains(skeleton, form) {
					t.Fatalf("Redact(%q) = %q shows %q", tmpl, red, form)
				}
			}
			msg := core.RedactError(fmt.Errorf("%s|%s", sec, url.QueryEscape(sec)), tmpl).Error()
			if strings.Contains(msg, sec) {
				t.Fatalf("RedactError(%q) = %q", tmpl, msg)
			}
		}
	})
}
