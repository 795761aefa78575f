// Package server runs the webhook's two listeners on plain net/http: the
// HTTPS port that takes POST /mutate (and POST /audit, for namespaces in
// audit mode, when the Reviewer is an Auditor), and the plain-HTTP port with /metrics,
// /healthz and /readyz. It owns TLS, request hygiene, health and shutdown; the
// review itself is a Reviewer's business, so no Kubernetes logic lives here.
//
// Request hygiene on /mutate and /audit:
//   - bodies over Options.MaxRequestBytes (DefaultMaxRequestBytes, 8 MiB) get
//     413. The API server accepts objects up to 3 MiB and an UPDATE review
//     carries the object twice (object and oldObject); 8 MiB leaves 2 MiB for
//     the review envelope and the growth of re-encoding as JSON;
//   - a Content-Type other than application/json gets 415, other methods 405;
//   - a body that is not an AdmissionReview gets 400 with the reason;
//   - ?timeout=Ns, which the API server adds, bounds the review's context;
//   - a panic answers 500 instead of dropping the connection, and gives back
//     what the review held (its slot, its bytes in flight).
//
// Bounds on work in flight (limits.go; docs/hardening.md has the figures):
//   - a body's buffer grows with the bytes that arrive, never with the
//     declared Content-Length, and every byte is charged to
//     Options.MaxBytesInFlight; a body that would exceed it gets 429 (and is
//     read to its end into nothing, so the client sees the answer). Part of
//     it is kept for bodies under 1 MiB, which a body declared larger never
//     uses;
//   - at most Options.MaxReviewsInFlight reviews, and two of bodies over
//     256 KiB, are processed at once; a review waits up to 0.5 s for a slot,
//     then gets 429 with Retry-After;
//   - at most Options.MaxConnections connections are open; more wait in the
//     listen backlog;
//   - what is logged or echoed from a request is truncated (Truncate,
//     TruncatingHandler).
//
// TLS 1.2 offers ECDHE with AEAD suites only. With Options.ClientCAFile the
// webhook port requires a client certificate signed by one of its CAs. /readyz
// fails once the served certificate has expired (certwatch).
//
// The serving certificate comes from a pkg/certwatch Watcher: either the
// --tls-cert-file and --tls-private-key-file it reloads when they change, or,
// with no files, the pairs handed over in process with SetCertificate (the
// built-in certificate mode, --self-signed). /readyz fails until one loads.
//
// HTTP/2 is off on the webhook port: the API server calls webhooks over
// HTTP/1.1, and leaving HTTP/2 off removes its rapid-reset class of attacks.
// The idle timeout is longer than the API server's 90 s keep-alive, so the
// server never closes a connection the API server is about to reuse.
package server
