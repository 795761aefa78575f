// Package imagelookup finds out what user a container image runs as, by
// reading its configuration (and, for a user name, its /etc/passwd) from its
// registry with go-containerregistry.
//
// The verdict for one image is one of:
//   - non-root: a numeric non-zero user ("65532", "65532:65532"), which the
//     kubelet verifies against runAsNonRoot as it is;
//   - pin: a user name that resolves through the image's own /etc/passwd (and
//     /etc/group for a named group) to a non-zero UID; the kubelet cannot
//     verify a name, so the caller pins runAsUser (and runAsGroup) to what
//     the image would run as anyway;
//   - root: no user, UID 0, a name for UID 0, or a name that does not
//     resolve (absent, whited out, or past the byte limits).
//
// The files are read as the container would see them: layers from the top
// down, the first layer that has the file wins, and whiteouts (".wh.NAME"
// files, opaque directories) hide what lower layers had. Reading is bounded
// by bytes (compressed and uncompressed) and by time.
//
// A reference with a digest is looked up by digest; a tag is resolved to its
// digest, which is trusted for a short TTL. Results are cached by repository
// and digest in a bounded LRU, and the references as written in pods in
// another (BenchmarkCacheMemory: 10,000 digests and 10,000 references hold
// about 7 MiB, some 680 bytes a digest), concurrent lookups of one image share one
// registry request, and every lookup waits at most its timeout and never past
// the caller's deadline; the registry work itself goes on up to the timeout
// and fills the cache for the next review. A failure is remembered for ten
// seconds, so a registry that is down or stalls costs one lookup timeout per
// image every ten seconds, not one per review.
//
// Credentials are anonymous, plus the webhook's own docker config file (read
// at each registry request, so a rotated Secret takes effect), plus whatever
// the caller passes for one lookup (a pod's imagePullSecrets). Credential
// helpers named in a docker config are never run. No error or log line
// carries a credential.
//
// The results cache is shared across namespaces: once one pod's credentials
// let the webhook read an image, another pod naming the same digest gets the
// same verdict (its user, nothing else) without credentials of its own.
package imagelookup
