// Package admissiontest builds AdmissionReviews and checks AdmissionResponses
// for the tests of the webhook: the fixtures the admission handler tests, the
// server tests and the fuzz seeds share. It is imported by tests only, and
// applies patches with the JSON patch library the API server uses.
package admissiontest
