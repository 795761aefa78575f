package defaults

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// ruleRunAsNonRoot makes the kubelet refuse to start a container as root.
//
// Sets: spec.securityContext.runAsNonRoot = true; or, when that cannot be
// used, <container>.securityContext.runAsNonRoot = true on each container
// that does not set its own. With image lookup (Facts.Pins), first
// <container>.securityContext.runAsUser (and runAsGroup) to the user its
// image runs as anyway, where neither the container nor the pod sets one, so
// the kubelet can verify runAsNonRoot for an image whose user is a name.
//
// Stays away when:
//   - the pod sets runAsNonRoot (either way); if it is true and a container
//     runs as UID 0 (for example one another webhook added after this rule's
//     first pass), a warning says that container cannot start;
//   - a container sets its own runAsNonRoot (it overrides the pod's);
//   - the pod is a Windows HostProcess pod (it runs as a host account by design);
//   - the pod sets hostUsers: false: in its own user namespace root in the
//     pod is an unprivileged user on the node, and Pod Security "restricted"
//     exempts such pods from runAsNonRoot, but the kubelet would still refuse
//     an image whose user is root;
//   - a container needs root (see root.go) and sets no runAsNonRoot itself:
//     with runAsNonRoot it could never start, so the value is set per
//     container on the others only, and a warning names it.
//
// For the ephemeralcontainers subresource the pod level cannot change, so the
// value is set on each new ephemeral container instead.
var ruleRunAsNonRoot = Rule{
	ID:      "run-as-non-root",
	Summary: "runAsNonRoot: true at pod level (per container next to a container that needs root)",
	Writes: append(append(append([]string{"/spec/securityContext/runAsNonRoot"},
		inEveryContainer("securityContext/runAsNonRoot")...),
		inEveryContainer("securityContext/runAsUser")...),
		inEveryContainer("securityContext/runAsGroup")...),
	apply: applyRunAsNonRoot,
}

func applyRunAsNonRoot(pod *corev1.Pod, s *scope) (bool, []string) {
	podSC := pod.Spec.SecurityContext
	if s.hostProcess || isFalse(pod.Spec.HostUsers) {
		return false, nil
	}
	pinned, warnings := pinImageUsers(podSC, s)
	if podSC != nil && podSC.RunAsNonRoot != nil {
		return pinned, append(warnings, blockedByPodLevel(podSC, s)...)
	}
	rootInScope := false
	for c := range s.each(s.all) {
		if isRoot(c) {
			if s.podLevel() || s.inScope(c) {
				rootInScope = true
				warnings = append(warnings, fmt.Sprintf(
					"%s %q runs as root (%s), so runAsNonRoot was not set for it; set runAsUser to a non-zero UID, or runAsNonRoot yourself, to decide",
					c.kind.singular(), c.name, c.root))
			}
		}
	}
	if s.podLevel() && !rootInScope {
		if pod.Spec.SecurityContext == nil {
			pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		pod.Spec.SecurityContext.RunAsNonRoot = ptr(true)
		return true, warnings
	}
	changed := pinned
	for c := range s.each(s.containers) {
		if sc := c.get(); (sc != nil && sc.RunAsNonRoot != nil) || isRoot(c) {
			continue
		}
		c.sc().RunAsNonRoot = ptr(true)
		changed = true
	}
	return changed, warnings
}

// blockedByPodLevel warns about containers that run as root under a pod-level
// runAsNonRoot: true and so can never start. It changes nothing: the value may
// be the user's, or this rule's from an earlier pass before another webhook
// added the container (reinvocation); either way weakening it is not ours to do.
func blockedByPodLevel(podSC *corev1.PodSecurityContext, s *scope) []string {
	if !isTrue(podSC.RunAsNonRoot) {
		return nil
	}
	var warnings []string
	for c := range s.each(s.containers) {
		// Only where the UID or account says so: a privileged container's
		// image may well run as non-root.
		if isRoot(c) && (c.root == reasonUID0 || c.root == reasonWindowsAdmin) {
			warnings = append(warnings, fmt.Sprintf(
				"%s %q runs as root (%s) but the pod sets runAsNonRoot: true, so it cannot start; set runAsNonRoot: false on it or a non-zero runAsUser",
				c.kind.singular(), c.name, c.root))
		}
	}
	return warnings
}

// isRoot reports whether container c needs root (see root.go) and leaves
// runAsNonRoot to the pod: with runAsNonRoot it could never start.
func isRoot(c container) bool {
	if sc := c.get(); sc != nil && sc.RunAsNonRoot != nil {
		return false
	}
	return c.root != ""
}

// pinImageUsers sets the users of Facts.Pins on the containers in scope whose
// user the manifest leaves to the image, reports whether it set any, and
// says so in a warning for each: a runAsUser the user did not write.
func pinImageUsers(podSC *corev1.PodSecurityContext, s *scope) (bool, []string) {
	if s.windows || len(s.opts.Facts.Pins) == 0 {
		return false, nil
	}
	changed := false
	var warnings []string
	for c := range s.each(s.containers) {
		pin, ok := s.opts.Facts.Pins[c.name]
		if !ok || pin.UID <= 0 || c.root != "" {
			continue
		}
		sc := c.get()
		if (sc != nil && sc.RunAsUser != nil) || (podSC != nil && podSC.RunAsUser != nil) {
			continue
		}
		groupSet := (sc != nil && sc.RunAsGroup != nil) || (podSC != nil && podSC.RunAsGroup != nil)
		c.sc().RunAsUser = ptr(pin.UID)
		if pin.GID != nil && *pin.GID >= 0 && !groupSet {
			c.sc().RunAsGroup = ptr(*pin.GID)
		}
		changed = true
		warnings = append(warnings, fmt.Sprintf("%s %q: runAsUser set to %d, %s", c.kind.singular(), c.name, pin.UID, pin.Reason))
	}
	return changed, warnings
}
