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
// volumes (BenchmarkApplyManyContainers); Options.Context is checked between
// rules and at each container or volume of every rule's loop over them
// (Result.Err reports an interrupted pass), while reading the pod before the
// first rule and summing up after the last are single linear walks with no
// check inside; and a pod whose containers repeat a name is left unchanged
// with a warning before any rule runs. The API server rejects such a pod
// after mutating admission anyway, naming the field at fault, so the webhook
// allows it rather than deny it with a second, vaguer message or spend time
// defaulting it; it is no policy decision of the webhook's.
//
// Which containers need root — run as root on purpose, so they keep root's
// powers — is decided in one place, root.go, and every rule reads that
// answer; callers add what they learned outside the manifest through
// Options.Facts.
//
// This package does no I/O and knows nothing of HTTP, JSON or YAML.
//
// # Adding a rule
//
// Each step has a test that fails, naming what is missing, until it is done:
//
//  1. rule_<id>.go: one Rule value with its ID (lower-case, dashed), Summary,
//     Writes (every field it may set, as JSON pointers; inEveryContainer for
//     container fields), Optional if it is off unless configured, and apply;
//     a doc comment with "Sets:" and "Stays away
//     when:", and early returns for what it must not touch. Copy the shape of
//     rule_no_privilege_escalation.go.
//  2. registry.go: add it to registry, where its place in the run order is
//     explained (TestRegistryInvariants checks ID, Summary and Writes).
//  3. rule_<id>_test.go: a table registered with registerCases and run with
//     runRuleCases, with a case for every tag in requiredTags (unset, already
//     set, set the other way, init, sidecar, ephemeral, Windows); add its Test
//     function to TestEveryRuleIsTested. runRuleCases fails for a field the
//     rule changed that Writes does not declare, and proves every patch by
//     applying it.
//  4. pkg/patch: if a field in Writes lies outside patch.Subtrees, add the
//     part to Snapshot.each and deepCopy (TestSubtreesHoldWhatRulesWrite names
//     the field).
//  5. docs/reference.md: a row in the Rules table, in registry order
//     (TestRulesMatchReference), with the fields it writes.
//  6. README.md: a row in the rules table, for users.
//  7. pkg/manifest: rerun its tests with UPDATE_GOLDEN=1 and review the diff of
//     testdata/golden (every example pod that the rule changes).
//
// Nothing else names rules one by one: the metrics label, the defaulted
// annotation and the mutate command follow the registry.
package defaults
