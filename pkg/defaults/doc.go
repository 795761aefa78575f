// Package defaults holds the secure-defaults rules: pure functions that fill
// in secure values on a typed Pod wherever its manifest left them unset.
//
// Each rule lives in its own file (rule_*.go), has a stable ID used in
// configuration, annotations, metric labels and docs, and is listed in the one
// registry in registry.go. Rules never override a value the user set, never
// produce a Pod the API server rejects, and are idempotent: applying them to
// their own output changes nothing.
//
// Apply and ApplyEphemeral take Options: which rules run (optional rules are
// off unless turned on), the settings of rules that take any, and whether the
// pod's opt-out annotations count. Options{} is the shipped behaviour; package
// config builds Options from the configuration file.
//
// This package does no I/O and knows nothing of HTTP, JSON or YAML.
package defaults
