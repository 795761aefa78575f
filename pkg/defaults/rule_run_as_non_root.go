package defaults

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ruleRunAsNonRoot makes the kubelet refuse to start a container as root.
//
// Sets: spec.securityContext.runAsNonRoot = true; or, when that cannot be
// used, <container>.securityContext.runAsNonRoot = true on each container
// that does not set its own.
//
// Stays away when:
//   - the pod sets runAsNonRoot (either way); if it is true and a container
//     runs as UID 0 (for example one another webhook added after this rule's
//     first pass), a warning says that container cannot start;
//   - a container sets its own runAsNonRoot (it overrides the pod's);
//   - the pod is a Windows HostProcess pod (it runs as a host account by design);
//   - a container runs as root on purpose and sets no runAsNonRoot itself:
//     its effective runAsUser is 0 (or its Windows runAsUserName is
//     ContainerAdministrator), or it is privileged or adds CAP_SYS_ADMIN or
//     ALL (root-only powers; such containers run their images' root user
//     almost always). With runAsNonRoot it could never start, so the value
//     is set per container on the others only, and a warning names it.
//
// For the ephemeralcontainers subresource the pod level cannot change, so the
// value is set on each new ephemeral container instead.
var ruleRunAsNonRoot = Rule{
	ID:      "run-as-non-root",
	Summary: "runAsNonRoot: true at pod level (per container next to a container that runs as UID 0)",
	apply:   applyRunAsNonRoot,
}

func applyRunAsNonRoot(pod *corev1.Pod, s *scope) (bool, []string) {
	podSC := pod.Spec.SecurityContext
	if s.hostProcess {
		return false, nil
	}
	if podSC != nil && podSC.RunAsNonRoot != nil {
		return false, blockedByPodLevel(podSC, s)
	}
	var warnings []string
	rootInScope := false
	for _, c := range s.all {
		if isRoot(podSC, c) {
			if s.podLevel() || s.inScope(c) {
				rootInScope = true
				warnings = append(warnings, fmt.Sprintf(
					"%s %q runs as root (%s), so runAsNonRoot was not set for it; set runAsUser to a non-zero UID, or runAsNonRoot yourself, to decide",
					c.kind.singular(), c.name, rootReason(podSC, c)))
			}
		}
	}
	if s.podLevel() && !rootInScope {
		if pod.Spec.SecurityContext == nil {
			pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		pod.Spec.SecurityContext.RunAsNonRoot = ptr(true)
		return true, nil
	}
	changed := false
	for _, c := range s.containers {
		if sc := c.get(); (sc != nil && sc.RunAsNonRoot != nil) || isRoot(podSC, c) {
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
	for _, c := range s.containers {
		if !isRoot(podSC, c) {
			continue
		}
		// Only where the UID or account says so: a privileged container's
		// image may well run as non-root.
		if reason := rootReason(podSC, c); reason == "runAsUser: 0" || reason == "runAsUserName: "+windowsAdmin {
			warnings = append(warnings, fmt.Sprintf(
				"%s %q runs as root (%s) but the pod sets runAsNonRoot: true, so it cannot start; set runAsNonRoot: false on it or a non-zero runAsUser",
				c.kind.singular(), c.name, reason))
		}
	}
	return warnings
}

// windowsAdmin is the account Windows containers run as with full rights: the
// Windows counterpart of UID 0, which runAsNonRoot refuses.
const windowsAdmin = "ContainerAdministrator"

// isRoot reports whether container c runs as root on purpose and leaves
// runAsNonRoot to the pod: with runAsNonRoot it could never start.
func isRoot(podSC *corev1.PodSecurityContext, c container) bool {
	sc := c.get()
	if sc != nil && sc.RunAsNonRoot != nil {
		return false
	}
	return rootReason(podSC, c) != ""
}

// rootReason names the field that makes c run as root, or returns "".
func rootReason(podSC *corev1.PodSecurityContext, c container) string {
	sc := c.get()
	var uid *int64
	var user *string
	if podSC != nil {
		uid = podSC.RunAsUser
		if podSC.WindowsOptions != nil {
			user = podSC.WindowsOptions.RunAsUserName
		}
	}
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.WindowsOptions != nil && sc.WindowsOptions.RunAsUserName != nil {
			user = sc.WindowsOptions.RunAsUserName
		}
	}
	switch {
	case uid != nil && *uid == 0:
		return "runAsUser: 0"
	case user != nil && strings.EqualFold(*user, windowsAdmin):
		return "runAsUserName: " + windowsAdmin
	case uid != nil:
		// An explicit non-zero UID: runAsNonRoot holds whatever else is set.
		return ""
	case sc != nil && isTrue(sc.Privileged):
		return "privileged: true"
	case sc != nil && sc.Capabilities != nil && capabilityIn(sc.Capabilities.Add, "SYS_ADMIN", capAll):
		return "it adds CAP_SYS_ADMIN"
	}
	return ""
}
