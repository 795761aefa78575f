package defaults

import corev1 "k8s.io/api/core/v1"

// DefaultRunAsUser is the UID and GID run-as-user sets unless configured
// otherwise: the nonroot user of distroless images.
const DefaultRunAsUser int64 = 65532

// ruleRunAsUser gives containers that name no user a fixed non-root one, so
// runAsNonRoot can be verified by the kubelet even for images without a
// numeric USER. Optional: off unless configured, with the IDs in
// Options.RunAsUser and Options.RunAsGroup.
//
// Sets: spec.securityContext.runAsUser (and runAsGroup where unset) = the
// configured IDs; per container instead where the pod level cannot be used
// (a container needs root or is left alone, a container sets its own
// runAsUser but no runAsGroup, which a pod-level group would change, or the
// ephemeralcontainers subresource).
//
// Stays away when:
//   - the pod or the container sets runAsUser: the user chose (its group
//     too: the container's group is left as it was);
//   - the container needs root (root.go): it keeps its user, and with it every
//     rule's view of it, so a second pass changes nothing;
//   - the pod is a Windows pod (the API server rejects runAsUser there).
//
// The manifest cannot say whether an image names a user of its own; with
// image lookup, containers whose image runs as root are among those that
// need root (Facts) and are left alone.
var ruleRunAsUser = Rule{
	ID:      "run-as-user",
	Summary: "runAsUser and runAsGroup (configured, default 65532) where no user is set, at pod level or per container",
	Writes: append([]string{"/spec/securityContext/runAsUser", "/spec/securityContext/runAsGroup"},
		append(inEveryContainer("securityContext/runAsUser"), inEveryContainer("securityContext/runAsGroup")...)...),
	Optional: true,
	apply:    applyRunAsUser,
}

func applyRunAsUser(pod *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	podSC := pod.Spec.SecurityContext
	if podSC != nil && podSC.RunAsUser != nil {
		return false, nil
	}
	uid, gid := s.opts.runAsUser()
	podLevel := s.podLevel()
	for c := range s.each(s.all) {
		// A pod-level runAsGroup would reach a container that names its
		// own user but no group, and change the group it runs as.
		if sc := c.get(); c.root != "" || (sc != nil && sc.RunAsUser != nil && sc.RunAsGroup == nil && (podSC == nil || podSC.RunAsGroup == nil)) {
			podLevel = false
		}
	}
	if s.interrupted() != nil {
		// podLevel was decided on part of the pod only.
		return false, nil
	}
	if podLevel {
		if podSC == nil {
			pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
			podSC = pod.Spec.SecurityContext
		}
		podSC.RunAsUser = ptr(uid)
		if podSC.RunAsGroup == nil {
			podSC.RunAsGroup = ptr(gid)
		}
		return true, nil
	}
	changed := false
	for c := range s.each(s.containers) {
		if sc := c.get(); c.root != "" || (sc != nil && sc.RunAsUser != nil) {
			continue
		}
		sc := c.sc()
		sc.RunAsUser = ptr(uid)
		if sc.RunAsGroup == nil && (podSC == nil || podSC.RunAsGroup == nil) {
			sc.RunAsGroup = ptr(gid)
		}
		changed = true
	}
	return changed, nil
}
