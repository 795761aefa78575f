// Package imagelookuptest serves container images from a real registry
// (go-containerregistry's pkg/registry) on the loopback interface over TLS,
// for the tests and benchmarks of image lookup. It builds small images with
// a given user and files, pushes them, and can put the registry behind basic
// authentication, a stall or an error status. It is imported by tests only.
package imagelookuptest
