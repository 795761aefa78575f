// Package podsecurity checks a pod against Pod Security "restricted" at the
// latest version, with the checks of k8s.io/pod-security-admission itself, so
// the webhook can tell the user, after it has set its defaults, what would
// still make the pod fail in a namespace that enforces "restricted" and what
// to change, and so an audit of a cluster judges pods exactly as the webhook
// does. It needs no namespace lookup: the level is fixed.
package podsecurity
