// Package admissiontest builds AdmissionReviews and checks AdmissionResponses
// for the tests of the webhook: pod fixtures and tweaks, reviews as the API
// server sends them, and patches applied with the JSON patch library the API
// server uses.
//
// Imported by the tests of pkg/admission (handler, fuzz seeds, benchmarks)
// and pkg/server, and by the load generator of hack/bench, which sends the
// same reviews. The binary never imports it.
package admissiontest
