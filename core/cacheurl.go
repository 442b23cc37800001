package core

import "os"

// EnvURL is the environment variable that names the cache (a path or a
// store URL, see StoreURL) when the program or the command line does not.
const EnvURL = "FLOWCACHE_URL"

// DefaultDir is the cache directory used when nothing names a cache: it is
// relative, so ./.flowcache in the working directory.
const DefaultDir = ".flowcache"

// ResolveCacheURL returns the string that names the cache to open, worked
// out once for every caller (the driver, package inspect and the
// flowcache command open the same cache from the same settings): raw when
// it is not empty, else the value of EnvURL read with getenv (os.Getenv when
// nil) when that is not empty, else DefaultDir. The result is a path or a
// store URL, for ParseStoreURL or OpenURL; it may hold secrets, so print it
// only through Redact.
func ResolveCacheURL(raw string, getenv func(string) string) string {
	if raw != "" {
		return raw
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if env := getenv(EnvURL); env != "" {
		return env
	}
	return DefaultDir
}
