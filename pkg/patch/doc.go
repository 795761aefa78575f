// Package patch is the one place where a Pod before and after the rules
// becomes an RFC 6902 JSON patch for the API server.
//
// Take snapshots only the parts of a Pod the rules may change (Subtrees);
// Patch diffs each changed part against the mutated Pod. The rules declare
// what they write (defaults.Rule.Writes) and the tests check those fields
// against Subtrees, so a new rule that writes a new field fails a test that
// names the field.
package patch
