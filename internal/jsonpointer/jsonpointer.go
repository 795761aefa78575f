// Package jsonpointer escapes and unescapes the reference tokens of JSON
// pointers (RFC 6901), the one copy of that rule in the project: the patch
// paths of pkg/patch, pkg/manifest and pkg/admission's audit answers, the
// tests' tree walks (internal/jsontree) and the patches the e2e suite and
// hack/bench write by hand all use it.
package jsonpointer

import "strings"

var (
	escaper   = strings.NewReplacer("~", "~0", "/", "~1")
	unescaper = strings.NewReplacer("~1", "/", "~0", "~")
)

// Escape turns a key into a reference token: "~" becomes "~0" and "/"
// becomes "~1" (in that order, so "~1" in a key stays itself).
func Escape(key string) string { return escaper.Replace(key) }

// Unescape turns a reference token back into the key it names.
func Unescape(token string) string { return unescaper.Replace(token) }
