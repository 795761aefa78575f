// Package certwatch serves a TLS certificate and key from PEM files and picks
// up new ones when the files change on disk, without a restart.
//
// A Watcher polls the files' content (so it follows both in-place rewrites
// and the symlink swaps of Kubernetes Secret volumes) and can be told to
// reload at once. A pair that does not load — a file missing, half written,
// or a certificate that does not match its key — never replaces the last
// good pair, so a rotation never fails a handshake. Until the first good pair
// is loaded the Watcher is unhealthy and handshakes fail; the files may
// appear later.
//
// A certificate holder in the same process (the built-in certificate mode of
// pkg/builtincert, `serve --self-signed`) hands its pairs over with Set to a
// Watcher made without files, and they pass the same checks.
package certwatch
