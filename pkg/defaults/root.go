package defaults

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// This file holds the one definition of "needs root" that every rule reads.
//
// A container needs root when its manifest (or a fact the caller learned
// elsewhere, see Facts) makes it run as root on purpose, in this order:
//
//  1. its effective runAsUser (the container's, else the pod's) is 0;
//  2. its effective Windows runAsUserName is ContainerAdministrator;
//  3. otherwise an explicit non-zero effective runAsUser means it does not;
//  4. its effective runAsNonRoot is explicitly false: it needs root;
//     explicitly true: it does not (the kubelet refuses to start it as root);
//  5. it is privileged, or adds SYS_ADMIN or ALL (in any spelling): powers
//     only root uses, and such images almost always run as root;
//  6. the caller says so (Facts.NeedsRoot), for example because its image's
//     user is root.
//
// What each rule does with it:
//   - run-as-non-root leaves such a container without runAsNonRoot (unless it
//     sets its own), sets the value per container on the others, and warns;
//   - drop-all-capabilities leaves its capabilities to the runtime: root
//     without CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER or CAP_SETUID cannot
//     chown a volume or switch user, so dropping ALL would stop it starting;
//     it warns, except for privileged containers and those adding ALL, which
//     lose nothing either way;
//   - no-privilege-escalation and seccomp-runtime-default treat it like any
//     other container: the API server accepts both next to root (except
//     allowPrivilegeEscalation: false with privileged or CAP_SYS_ADMIN, which
//     that rule already avoids), and neither takes a power root relies on.

// Facts is what the caller learned about a pod outside its manifest, for the
// rules to read; it travels in Options.Facts. The zero value means "the
// manifest only".
type Facts struct {
	// NeedsRoot maps a container's name to why it needs root although its
	// manifest does not say so (for example `its image runs as user "root"`).
	// The reason appears in warnings. A listed container still does not need
	// root when its manifest sets a non-zero runAsUser or runAsNonRoot: true:
	// the manifest wins. Names of containers the pod does not have are ignored.
	NeedsRoot map[string]string
	// Pins maps a container's name to the user the run-as-non-root rule
	// pins as its runAsUser (and runAsGroup) where neither it nor the pod
	// sets one: the user its image runs as anyway when the kubelet cannot
	// verify it (a user name, which runAsNonRoot refuses), or a fixed
	// non-root UID the configuration gives root images. A container that
	// needs root, a Windows pod and a UID of 0 get no pin.
	Pins map[string]Pin
	// ImageNonRoot lists the containers whose image names a non-root user of
	// its own (a numeric UID, or a name whose UID is pinned). The optional
	// run-as-user rule leaves them the user their image names.
	ImageNonRoot map[string]bool
}

// withRunAsUser returns the facts the rules run on for pod: when run-as-user
// will run on it (enabled, not skipped by the pod's annotation where pods may
// opt out, not a Windows pod), the containers it reaches (not left alone by
// an exclusion) that need root only because of a fact (their image runs as
// root, or as a user it cannot name) get run-as-user's UID and GID as a pin
// instead, as imageLookup.rootImageRunAsUser would give them: run-as-user is
// for containers whose image names no non-root user. opts.Facts is not
// changed.
func withRunAsUser(pod *corev1.Pod, opts Options) Facts {
	facts := opts.Facts
	skipped := !opts.IgnorePodOptOut && slices.Contains(splitList(pod.Annotations[SkipRulesAnnotation]), ruleRunAsUser.ID)
	if len(facts.NeedsRoot) == 0 || !opts.enabled(ruleRunAsUser) || isWindows(pod) || skipped {
		return facts
	}
	// Containers every rule leaves alone get no pin: they stay as they are.
	var skipContainers []string
	if !opts.IgnorePodOptOut {
		skipContainers = splitList(pod.Annotations[SkipContainersAnnotation])
	}
	leftAlone := map[string]bool{}
	for _, c := range allContainers(pod) {
		if slices.Contains(skipContainers, c.name) || matchAny(opts.ExcludeContainers, c.name) || matchAny(opts.ExcludeImages, c.image) {
			leftAlone[c.name] = true
		}
	}
	uid, gid := opts.runAsUser()
	needsRoot := make(map[string]string, len(facts.NeedsRoot))
	pins := make(map[string]Pin, len(facts.Pins)+len(facts.NeedsRoot))
	maps.Copy(pins, facts.Pins)
	for name, reason := range facts.NeedsRoot {
		if _, pinned := pins[name]; pinned || leftAlone[name] {
			needsRoot[name] = reason
			continue
		}
		pins[name] = Pin{UID: uid, GID: &gid, Reason: fmt.Sprintf("the UID %s sets where the image names no non-root user (%s)", ruleRunAsUser.ID, reason)}
	}
	facts.NeedsRoot, facts.Pins = needsRoot, pins
	return facts
}

// Pin is a user to pin on a container: a non-zero UID, and a GID when the
// image names a group.
type Pin struct {
	UID int64
	GID *int64
	// Reason says where the UID comes from, for the rule's warning, e.g.
	// `the UID of user "app" in image registry.example/app:1`.
	Reason string
}

// windowsAdmin is the account Windows containers run as with full rights: the
// Windows counterpart of UID 0, which runAsNonRoot refuses.
const windowsAdmin = "ContainerAdministrator"

// Reasons needsRoot gives that come from a user ID or account rather than
// from powers: a pod-level runAsNonRoot: true certainly stops these.
const (
	reasonUID0         = "runAsUser: 0"
	reasonWindowsAdmin = "runAsUserName: " + windowsAdmin
)

// needsRoot returns why the container with security context sc, in a pod
// with security context podSC, needs root, or "" when it does not. fact is
// the caller's reason from Facts, or "".
func needsRoot(podSC *corev1.PodSecurityContext, sc *corev1.SecurityContext, fact string) string {
	var uid *int64
	var user *string
	var nonRoot *bool
	if podSC != nil {
		uid, nonRoot = podSC.RunAsUser, podSC.RunAsNonRoot
		if podSC.WindowsOptions != nil {
			user = podSC.WindowsOptions.RunAsUserName
		}
	}
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsNonRoot != nil {
			nonRoot = sc.RunAsNonRoot
		}
		if sc.WindowsOptions != nil && sc.WindowsOptions.RunAsUserName != nil {
			user = sc.WindowsOptions.RunAsUserName
		}
	}
	switch {
	case uid != nil && *uid == 0:
		return reasonUID0
	case user != nil && strings.EqualFold(*user, windowsAdmin):
		return reasonWindowsAdmin
	case uid != nil, isTrue(nonRoot):
		return ""
	case isFalse(nonRoot):
		return "runAsNonRoot: false"
	case sc != nil && isTrue(sc.Privileged):
		return "privileged: true"
	case sc != nil && sc.Capabilities != nil && capabilityIn(sc.Capabilities.Add, capAll):
		return "it adds ALL capabilities"
	case sc != nil && sc.Capabilities != nil && capabilityIn(sc.Capabilities.Add, "SYS_ADMIN"):
		return "it adds CAP_SYS_ADMIN"
	}
	return fact
}
