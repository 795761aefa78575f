package defaults

import corev1 "k8s.io/api/core/v1"

// ruleReadOnlyRootFilesystem makes every container's image read-only, so a
// compromised process cannot change the binaries it runs; tmp-emptydir, which
// runs after it, then gives each such container a writable /tmp. Optional:
// off unless configured.
//
// Sets: <container>.securityContext.readOnlyRootFilesystem = true.
//
// Stays away when:
//   - the container sets readOnlyRootFilesystem (either way);
//   - the pod is a Windows pod (the API server rejects the field there);
//   - the container is ephemeral: a debugging shell writes files, and a
//     running pod cannot get the /tmp volume that would make up for it.
var ruleReadOnlyRootFilesystem = Rule{
	ID:       "read-only-root-filesystem",
	Summary:  "readOnlyRootFilesystem: true on every init and regular container (tmp-emptydir then adds /tmp)",
	Writes:   []string{"/spec/initContainers/*/securityContext/readOnlyRootFilesystem", "/spec/containers/*/securityContext/readOnlyRootFilesystem"},
	Optional: true,
	apply:    applyReadOnlyRootFilesystem,
}

func applyReadOnlyRootFilesystem(_ *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	changed := false
	for c := range s.each(s.containers) {
		if c.kind == kindEphemeral {
			continue
		}
		if sc := c.get(); sc != nil && sc.ReadOnlyRootFilesystem != nil {
			continue
		}
		c.sc().ReadOnlyRootFilesystem = ptr(true)
		changed = true
	}
	return changed, nil
}
