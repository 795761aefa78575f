package defaults

import corev1 "k8s.io/api/core/v1"

// ruleNoPrivilegeEscalation stops a process from gaining more privileges than
// its parent (setuid binaries, file capabilities): no_new_privs.
//
// Sets: <container>.securityContext.allowPrivilegeEscalation = false on every
// container.
//
// Stays away when:
//   - the pod is a Windows pod (the API server rejects the field there);
//   - the container sets allowPrivilegeEscalation (either way);
//   - the container is privileged, or adds CAP_SYS_ADMIN: the API server
//     rejects allowPrivilegeEscalation: false with either. SYS_ADMIN without
//     the prefix and ALL (which includes it) count too, in any case, since
//     runtimes read them the same way.
var ruleNoPrivilegeEscalation = Rule{
	ID:      "no-privilege-escalation",
	Summary: "allowPrivilegeEscalation: false on every container that is not privileged and does not add CAP_SYS_ADMIN",
	Writes:  inEveryContainer("securityContext/allowPrivilegeEscalation"),
	apply:   applyNoPrivilegeEscalation,
}

func applyNoPrivilegeEscalation(_ *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	changed := false
	for c := range s.each(s.containers) {
		if sc := c.get(); sc != nil {
			if sc.AllowPrivilegeEscalation != nil || isTrue(sc.Privileged) {
				continue
			}
			if sc.Capabilities != nil && capabilityIn(sc.Capabilities.Add, "SYS_ADMIN", capAll) {
				continue
			}
		}
		c.sc().AllowPrivilegeEscalation = ptr(false)
		changed = true
	}
	return changed, nil
}
