package defaults

import corev1 "k8s.io/api/core/v1"

// Rule is one secure default.
type Rule struct {
	// ID is stable: configuration, annotations, metric labels and docs use it.
	ID string
	// Summary says, in one line, what the rule sets and when it stays away.
	Summary string
	// Writes lists every field the rule may set, as JSON pointers into the
	// Pod with "*" for any index of a list (inEveryContainer builds the
	// container ones). Its tests fail when a case changes a field outside
	// these, and pkg/patch's when its snapshot holds one of them in no part.
	Writes []string
	// Optional rules are off unless the configuration turns them on; the
	// others are on unless it turns them off.
	Optional bool
	// apply changes pod in place within scope s and reports whether it
	// changed anything, with any warnings for the user.
	apply func(pod *corev1.Pod, s *scope) (changed bool, warnings []string)
}

// registry lists every rule, in the order they run. The order changes the
// result in one place only: read-only-root-filesystem runs before
// tmp-emptydir, which reads the field it writes, so a root filesystem it
// makes read-only gets its /tmp in the same pass. Otherwise no rule reads a
// field another writes (no-privilege-escalation and drop-all-capabilities
// both read capabilities.add, which no rule writes; run-as-user leaves the
// containers that need root alone, so no rule's view of root changes).
var registry = []Rule{
	ruleRunAsNonRoot,
	ruleDropAllCapabilities,
	ruleSeccompRuntimeDefault,
	ruleNoPrivilegeEscalation,
	ruleReadOnlyRootFilesystem,
	ruleTmpEmptyDir,
	ruleRunAsUser,
	ruleFSGroup,
	ruleNoServiceAccountToken,
}

// inEveryContainer returns the pointers of field (relative to a container)
// in init, regular and ephemeral containers.
func inEveryContainer(field string) []string {
	return []string{
		"/spec/initContainers/*/" + field,
		"/spec/containers/*/" + field,
		"/spec/ephemeralContainers/*/" + field,
	}
}

// Rules returns the registered rules, in the order they run.
func Rules() []Rule {
	out := make([]Rule, len(registry))
	copy(out, registry)
	return out
}

// RuleIDs returns the IDs of the registered rules, in the order they run.
func RuleIDs() []string {
	ids := make([]string, len(registry))
	for i, r := range registry {
		ids[i] = r.ID
	}
	return ids
}
