package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestSeccompRuntimeDefault(t *testing.T) {
	base := newPod(ctr("app"))
	rd := func(p *corev1.Pod) { podSC(p).SeccompProfile = runtimeDefault() }
	unconfined := &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	running := runningPod()
	withInit := func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{ctr("migrate"), sidecar(withSC(ctr("proxy"), &corev1.SecurityContext{SeccompProfile: unconfined}))}
	}
	cases := registerCases(ruleSeccompRuntimeDefault.ID, []ruleCase{
		{name: "unset: RuntimeDefault at pod level", tags: []string{tagUnset},
			in: base, want: tweak(base, rd)},
		{name: "pod sets RuntimeDefault", tags: []string{tagSet},
			in: tweak(base, rd)},
		{name: "pod sets Localhost", tags: []string{tagSet},
			in: tweak(base, func(p *corev1.Pod) {
				podSC(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("profiles/audit.json")}
			})},
		{name: "pod says Unconfined", tags: []string{tagOtherWay},
			in: tweak(base, func(p *corev1.Pod) { podSC(p).SeccompProfile = unconfined })},
		{name: "deprecated annotation: left alone, warn", tags: []string{tagOtherWay},
			in:           tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{seccompPodAnnotation: "unconfined"} }),
			wantWarnings: 1},
		{name: "container Unconfined keeps its own; pod level set", tags: []string{tagOtherWay},
			in:   newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: unconfined})),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: unconfined})), rd)},
		{name: "init container and sidecar: pod level only", tags: []string{tagInit, tagSidecar},
			in: tweak(base, withInit), want: tweak(base, withInit, rd)},
		{name: "ephemeral: new container gets its own", tags: []string{tagEphemeral, tagUnset},
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(&corev1.SecurityContext{SeccompProfile: runtimeDefault()}))},
		{name: "ephemeral: pod level already set", tags: []string{tagEphemeral, tagSet},
			in: tweak(running, rd, withDebugger(nil)), existing: running.Spec.EphemeralContainers},
		{name: "ephemeral: new container sets Unconfined", tags: []string{tagEphemeral, tagOtherWay},
			in: tweak(running, withDebugger(&corev1.SecurityContext{SeccompProfile: unconfined})), existing: running.Spec.EphemeralContainers},
		{name: "windows by required node affinity: nothing", tags: []string{tagWindows},
			in: tweak(base, windowsByAffinity)},
		{name: "windows pod: nothing", tags: []string{tagWindows},
			in: tweak(base, windowsPod)},
	})
	runRuleCases(t, ruleSeccompRuntimeDefault, cases)
}
