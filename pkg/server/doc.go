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
//   - a panic answers 500 instead of dropping the connection.
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
