// Package framework runs a real Kubernetes control plane — etcd and
// kube-apiserver — on loopback ports for end-to-end tests, plus the
// subprocesses under test, and stops them all afterwards.
package framework
