// Package certwatch serves a TLS certificate and key from PEM files and picks
// up new ones when the files change on disk, without a restart.
//
// A Watcher polls the files' content (so it follows both in-place rewrites
// and the symlink swaps of Kubernetes Secret volumes) and can be told to
// reload at once. A pair that does not load — a file missing, half written,
// a certificate that does not match its key, that is not valid yet or has
// expired — never replaces the last good pair, so a rotation never fails a
// handshake. Until the first good pair is loaded the Watcher is unhealthy and
// handshakes fail; the files may appear later (for example written by a
// certificate manager). Once the certificate in use expires the Watcher is
// unhealthy again (the server's /readyz says so), and within ExpiryWarning of
// its expiry Warning says so while it stays healthy: every replica usually
// serves the same Secret, so failing readiness early would take them all out
// of the Service at once, when serving until the last second is better.
//
// An Observer (the metrics) learns the expiry of each certificate served and
// every failed reload, so alerts see a rotation that does not happen.
package certwatch
