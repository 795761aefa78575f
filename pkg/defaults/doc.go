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
// Time is bounded by design: every rule is linear in the pod's containers and
// volumes (BenchmarkApplyManyContainers), Options.Context is checked between
// rules and at each container of every rule's loop (Result.Err reports an
// interrupted pass), and a pod whose containers repeat a name is left
// unchanged with a warning before any rule runs. The API server rejects
// such a pod after mutating admission anyway, naming the field at fault, so
// the webhook allows it rather than deny it with a second, vaguer message
// or spend time defaulting it; it is no policy decision of the webhook's.
//
// This package does no I/O and knows nothing of HTTP, JSON or YAML.
package defaults
