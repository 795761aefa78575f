// Package admission turns an admission.k8s.io/v1 AdmissionReview into the
// AdmissionReview the webhook answers with. It holds no HTTP code: the server
// hands it the request body and writes back the bytes it returns.
//
// In scope are Pods on CREATE (every rule of package defaults) and the
// pods/ephemeralcontainers subresource on UPDATE (only the newly added
// ephemeral containers). Everything else is allowed unchanged. The response
// carries a JSON patch computed by package patch, the rules' warnings for the
// user, the Pod Security "restricted" self-check's warning (package
// podsecurity) when the defaulted pod would still be rejected, and an audit
// annotation naming the rules that changed the pod.
//
// Audit answers reviews for namespaces in audit mode: the same rules run on
// the same pod, but the answer never patches; it says in one warning per
// value what the patch would have set, and names the rules in the audit
// annotation would-default. It never denies: where Review would answer an
// error, Audit allows the pod and says in a warning why it was not audited.
// The rules' options (package config) are read at
// the start of every review, so a reloaded configuration applies to the next.
//
// With image lookup on (SetImageLookup), the images of the containers whose
// user the manifest leaves to the image are looked up before the rules run,
// within the review's deadline, and handed to the rules as Facts; a lookup
// that fails only adds a warning.
//
// A review that decodes always gets an AdmissionResponse with the request's
// UID, errors and panics included; a body that is not a review gets an error,
// which the HTTP layer answers with 400.
package admission
