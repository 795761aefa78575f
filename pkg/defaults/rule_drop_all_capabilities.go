package defaults

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// capAll is the capability name that stands for every capability, spelled
// the one way Pod Security "restricted" accepts in capabilities.drop.
const capAll = "ALL"

// ruleDropAllCapabilities drops every Linux capability a container does not
// add back explicitly.
//
// Sets: "ALL" appended to <container>.securityContext.capabilities.drop of
// every container. What the user listed in drop is never removed or
// reordered, other spellings of ALL included ("all", "CAP_ALL": runtimes read
// them as ALL, Pod Security does not, and the API server accepts both
// together); capabilities.add is kept as is (runtimes drop ALL first, then
// add back what add lists, so `add: [NET_BIND_SERVICE]` keeps working).
//
// Stays away when:
//   - the pod is a Windows pod (the API server rejects capabilities there);
//   - the container already drops "ALL", spelled exactly so;
//   - the container adds ALL: dropping ALL as well would take away what the
//     user asked for, since runtimes apply "drop ALL" after "add ALL";
//   - the container is privileged: it gets every capability regardless, so
//     the drop would change nothing but the manifest;
//   - the container needs root for another reason (see root.go): root
//     without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER or CAP_SETUID cannot
//     chown a volume or switch user, so it keeps the runtime's capabilities
//     and a warning says why (unless it drops ALL spelled another way
//     itself: then it has nothing left to lose and "ALL" is appended).
var ruleDropAllCapabilities = Rule{
	ID:      "drop-all-capabilities",
	Summary: `"ALL" appended to capabilities.drop of every container that does not need root`,
	Writes:  inEveryContainer("securityContext/capabilities/drop"),
	apply:   applyDropAllCapabilities,
}

func applyDropAllCapabilities(_ *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	changed := false
	var warnings []string
	for c := range s.each(s.containers) {
		var caps *corev1.Capabilities
		if sc := c.get(); sc != nil {
			if isTrue(sc.Privileged) {
				continue
			}
			caps = sc.Capabilities
		}
		if caps != nil && (dropsAll(caps.Drop) || capabilityIn(caps.Add, capAll)) {
			continue
		}
		// A root container that drops ALL spelled otherwise has nothing
		// left to lose: "ALL" is appended for Pod Security's sake.
		if c.root != "" && (caps == nil || !capabilityIn(caps.Drop, capAll)) {
			warnings = append(warnings, fmt.Sprintf(
				"%s %q runs as root (%s), so its capabilities were not dropped: root without CAP_CHOWN, CAP_SETUID and the like cannot do root's work; set capabilities.drop yourself to decide",
				c.kind.singular(), c.name, c.root))
			continue
		}
		sc := c.sc()
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		sc.Capabilities.Drop = append(sc.Capabilities.Drop, capAll)
		changed = true
	}
	return changed, warnings
}

// dropsAll reports whether drop holds "ALL" exactly as Pod Security reads it.
func dropsAll(drop []corev1.Capability) bool {
	for _, c := range drop {
		if c == capAll {
			return true
		}
	}
	return false
}
