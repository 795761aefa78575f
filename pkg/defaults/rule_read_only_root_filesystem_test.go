package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestReadOnlyRootFilesystem(t *testing.T) {
	on := Options{Rules: map[string]bool{ruleReadOnlyRootFilesystem.ID: true}}
	ro := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)}
	running := runningPod()
	cases := registerCases(ruleReadOnlyRootFilesystem.ID, []ruleCase{
		{name: "unset: true", tags: []string{tagUnset}, opts: on,
			in: newPod(ctr("app")), want: newPod(withSC(ctr("app"), ro))},
		{name: "already true", tags: []string{tagSet}, opts: on,
			in: newPod(withSC(ctr("app"), ro))},
		{name: "user says false", tags: []string{tagOtherWay}, opts: on,
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(false)}))},
		{name: "init container and sidecar", tags: []string{tagInit, tagSidecar}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("init"), sidecar(ctr("proxy"))} }),
			want: tweak(newPod(withSC(ctr("app"), ro)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("init"), ro), sidecar(withSC(ctr("proxy"), ro))}
			})},
		{name: "ephemeral: a debugging shell keeps a writable root", tags: []string{tagEphemeral}, opts: on,
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers},
		{name: "windows pod: nothing", tags: []string{tagWindows}, opts: on,
			in: tweak(newPod(ctr("app")), windowsPod)},
	})
	runRuleCases(t, ruleReadOnlyRootFilesystem, cases)
}

// TestReadOnlyRootGetsTmp checks that /tmp follows from the optional rule in
// the same pass: tmp-emptydir runs after it.
func TestReadOnlyRootGetsTmp(t *testing.T) {
	out, res := checkPassWith(t, newPod(ctr("app")), nil, Options{Rules: map[string]bool{ruleReadOnlyRootFilesystem.ID: true}})
	if m := out.Spec.Containers[0].VolumeMounts; len(m) != 1 || m[0].MountPath != "/tmp" || len(out.Spec.Volumes) != 1 {
		t.Errorf("no /tmp for the read-only root: mounts %v, volumes %v (applied %v)", m, out.Spec.Volumes, res.Applied)
	}
}
