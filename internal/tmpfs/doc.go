// Package tmpfs helps tests of what a cache does on a full disk or a
// read-only file system: it mounts small tmpfs file systems (Linux, as
// root or with CAP_SYS_ADMIN; elsewhere, or where mounting is not
// permitted, the test is skipped with a message saying so), fills them,
// remounts them read-only, and hashes directory trees to prove that
// nothing changed.
package tmpfs
