// Package certwatch serves a TLS certificate and key from PEM files and picks
// up new ones when the files change on disk, without a restart.
//
// A Watcher polls the files' content (so it follows both in-place rewrites
// and the symlink swaps of Kubernetes Secret volumes) and can be told to
// reload at once. A pair that does not load — a file missing, half written,
// a certificate that does not match its key, that is not valid yet or has
// expired — never replaces the last good pair, so a rotation never fails a
// handshake. Until the first good pair is loaded the Watcher is unhealthy and
// handshakes fail; the files may appear later. Once the certificate in use
// expires the Watcher is unhealthy again (the server's /readyz says so).
// Within ExpiryWarning of its expiry, Warning says so while the Watcher stays
// healthy: replicas usually serve the same Secret, so failing readiness early
// would take them all out of the Service at once, when serving until the
// last second is better.
//
// An Observer (the metrics) learns the expiry of each certificate served and
// every failed load, so alerts see a rotation that does not happen.
//
// A certificate holder in the same process (the built-in certificate mode of
// pkg/builtincert, `serve --self-signed`) hands its pairs over with Set to a
// Watcher made without files, and they pass the same checks.
package certwatch
