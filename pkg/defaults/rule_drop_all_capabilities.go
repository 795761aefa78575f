package defaults

import corev1 "k8s.io/api/core/v1"

// capAll is the capability name that stands for every capability.
const capAll = "ALL"

// ruleDropAllCapabilities drops every Linux capability a container does not
// add back explicitly.
//
// Sets: "ALL" appended to <container>.securityContext.capabilities.drop of
// every container. What the user listed in drop is never removed or
// reordered; capabilities.add is kept as is (runtimes drop ALL first, then add
// back what add lists, so `add: [NET_BIND_SERVICE]` keeps working).
//
// Stays away when:
//   - the pod is a Windows pod (the API server rejects capabilities there);
//   - the container already drops ALL (in any case);
//   - the container adds ALL: dropping ALL as well would take away what the
//     user asked for, since runtimes apply "drop ALL" after "add ALL";
//   - the container is privileged: it gets every capability regardless, so
//     the drop would change nothing but the manifest.
var ruleDropAllCapabilities = Rule{
	ID:      "drop-all-capabilities",
	Summary: `"ALL" appended to capabilities.drop of every container`,
	Writes:  inEveryContainer("securityContext/capabilities/drop"),
	apply:   applyDropAllCapabilities,
}

func applyDropAllCapabilities(_ *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	changed := false
	for _, c := range s.containers {
		if sc := c.get(); sc != nil {
			if isTrue(sc.Privileged) {
				continue
			}
			if caps := sc.Capabilities; caps != nil && (capabilityIn(caps.Drop, capAll) || capabilityIn(caps.Add, capAll)) {
				continue
			}
		}
		sc := c.sc()
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		sc.Capabilities.Drop = append(sc.Capabilities.Drop, capAll)
		changed = true
	}
	return changed, nil
}
