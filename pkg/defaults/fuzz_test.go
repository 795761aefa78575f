package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/internal/podgen"
)

// FuzzApply runs the rules over pods built by internal/podgen and checks every invariant of
// checkPass (the patch reproduces the mutated pod when applied with the API
// server's library, no user value changes, arrays only grow at the end,
// valid volume names and field combinations, idempotence), plus: Windows pods
// get no Linux-only field (optional rules on or off), and an ephemeral-container update changes nothing
// but the new ephemeral containers.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("\x02\x01\x03\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x02\x00\x01"))
	f.Add([]byte("read-only root with a clash: tmp-app tmp-a tmp-proxy"))
	f.Add([]byte{0, 2, 0, 3, 1, 0, 0, 1, 2, 2, 1, 1, 1, 0, 2, 1, 1, 0, 2, 2, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		pod, running := podgen.Pod(data)
		var existing []corev1.EphemeralContainer
		if running >= 0 {
			existing = append([]corev1.EphemeralContainer{}, pod.Spec.EphemeralContainers[:running]...)
		}
		// Every rule on, optional ones included, and for odd-length inputs the
		// first container excluded: the same invariants (patch proven, user
		// values kept, valid, idempotent) hold.
		all := Options{Rules: map[string]bool{}}
		for _, r := range registry {
			all.Rules[r.ID] = true
		}
		if cs := allContainers(pod); len(data)%2 == 1 && len(cs) > 0 {
			all.ExcludeContainers = []string{cs[0].name}
		}
		all.Facts = fuzzFacts(pod, data)
		outAll, _ := checkPassWith(t, pod, existing, all)
		if isWindows(pod) || isHostProcess(pod.Spec.SecurityContext, allContainers(pod)) {
			// With the optional rules on, a Windows pod gets nothing more
			// but automountServiceAccountToken, which is not Linux-only.
			b := outAll.DeepCopy()
			if pod.Spec.AutomountServiceAccountToken == nil {
				b.Spec.AutomountServiceAccountToken = nil
			}
			checkWindowsUntouched(t, pod, b)
		}

		out, res := checkPass(t, pod, existing)
		if res.OptedOut && res.Changed() {
			t.Fatalf("opted-out pod changed")
		}
		if isWindows(pod) || isHostProcess(pod.Spec.SecurityContext, allContainers(pod)) {
			checkWindowsUntouched(t, pod, out)
		}
		checkRootKept(t, pod, out)
		if isFalse(pod.Spec.HostUsers) && !isHostProcess(pod.Spec.SecurityContext, allContainers(pod)) {
			for _, c := range allContainers(out) {
				if sc := c.get(); sc != nil && isTrue(sc.RunAsNonRoot) && !setsNonRoot(pod, c.name) {
					t.Fatalf("hostUsers: false, yet runAsNonRoot was set on %s", c.name)
				}
			}
			if sc := out.Spec.SecurityContext; sc != nil && isTrue(sc.RunAsNonRoot) && (pod.Spec.SecurityContext == nil || pod.Spec.SecurityContext.RunAsNonRoot == nil) {
				t.Fatalf("hostUsers: false, yet runAsNonRoot was set at pod level")
			}
		}
		if existing != nil {
			// Blank out the new ephemeral containers' security contexts on
			// both sides: the rest must be equal.
			a, b := pod.DeepCopy(), out.DeepCopy()
			for i := len(existing); i < len(a.Spec.EphemeralContainers); i++ {
				a.Spec.EphemeralContainers[i].SecurityContext = nil
				b.Spec.EphemeralContainers[i].SecurityContext = nil
			}
			if d := cmp.Diff(a, b); d != "" {
				t.Fatalf("ephemeral update changed more than the new containers' security contexts:\n%s", d)
			}
		}
	})
}

// checkWindowsUntouched asserts that the rules added nothing but runAsNonRoot
// (and the annotation) to a Windows pod, and nothing at all to a HostProcess pod.
func checkWindowsUntouched(t *testing.T, before, after *corev1.Pod) {
	t.Helper()
	a, b := before.DeepCopy(), after.DeepCopy()
	for _, p := range []*corev1.Pod{a, b} {
		delete(p.Annotations, DefaultedAnnotation)
		if len(p.Annotations) == 0 {
			p.Annotations = nil
		}
	}
	clear := func(p *corev1.Pod) {
		if sc := p.Spec.SecurityContext; sc != nil {
			sc.RunAsNonRoot = nil
			if cmp.Equal(*sc, corev1.PodSecurityContext{}) {
				p.Spec.SecurityContext = nil
			}
		}
		for _, c := range allContainers(p) {
			if sc := c.get(); sc != nil {
				sc.RunAsNonRoot = nil
				if cmp.Equal(*sc, corev1.SecurityContext{}) {
					*c.securityContext = nil
				}
			}
		}
	}
	if !isHostProcess(before.Spec.SecurityContext, allContainers(before)) {
		clear(a)
		clear(b)
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Fatalf("windows pod got more than runAsNonRoot:\n%s", d)
	}
}

// checkRootKept asserts that no container that needs root (by the manifest
// before the rules ran) got capabilities.drop: [ALL] from the rules, unless
// it already dropped ALL spelled another way.
func checkRootKept(t *testing.T, before, after *corev1.Pod) {
	t.Helper()
	dropsBefore := map[string]bool{}
	root := map[string]string{}
	for _, c := range newScope(before.DeepCopy(), nil, Facts{}).all {
		root[c.name] = c.root
		if sc := c.get(); sc != nil && sc.Capabilities != nil && capabilityIn(sc.Capabilities.Drop, capAll) {
			dropsBefore[c.name] = true
		}
	}
	for _, c := range allContainers(after) {
		sc := c.get()
		if root[c.name] == "" || dropsBefore[c.name] || sc == nil || sc.Capabilities == nil {
			continue
		}
		if dropsAll(sc.Capabilities.Drop) {
			t.Fatalf("%s needs root (%s) but got capabilities.drop: [ALL]", c.name, root[c.name])
		}
	}
}

// setsNonRoot reports whether the container named name sets runAsNonRoot in pod.
func setsNonRoot(pod *corev1.Pod, name string) bool {
	for _, c := range allContainers(pod) {
		if sc := c.get(); c.name == name && sc != nil && sc.RunAsNonRoot != nil {
			return true
		}
	}
	return false
}

// fuzzFacts makes, from data, what image lookup could say of pod's
// containers: nothing, a root image, an image naming a non-root UID, or a
// user name pinned to its UID.
func fuzzFacts(pod *corev1.Pod, data []byte) Facts {
	var f Facts
	if len(data) == 0 {
		return f
	}
	for i, c := range allContainers(pod) {
		switch data[(i*7+3)%len(data)] % 4 {
		case 1:
			if f.NeedsRoot == nil {
				f.NeedsRoot = map[string]string{}
			}
			f.NeedsRoot[c.name] = "its image runs as root"
		case 2, 3:
			if f.ImageNonRoot == nil {
				f.ImageNonRoot = map[string]bool{}
			}
			f.ImageNonRoot[c.name] = true
			if data[(i*7+3)%len(data)]%4 == 3 {
				if f.Pins == nil {
					f.Pins = map[string]Pin{}
				}
				f.Pins[c.name] = Pin{UID: int64(1000 + i), Reason: "the UID of its image's user"}
			}
		}
	}
	return f
}
