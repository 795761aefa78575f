package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
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
		{name: "deprecated pod annotation unconfined: left alone, warn", tags: []string{tagOtherWay},
			in:           tweak(base, annotate(corev1.SeccompPodAnnotationKey, "unconfined")),
			wantWarnings: 1},
		{name: "deprecated pod annotation that is no profile: left alone, warn", tags: []string{tagOtherWay},
			in:           tweak(base, annotate(corev1.SeccompPodAnnotationKey, "localhost/../etc/profile.json")),
			wantWarnings: 1},
		{name: "deprecated pod annotation runtime/default: the field says the same", tags: []string{tagSet},
			in:   tweak(base, annotate(corev1.SeccompPodAnnotationKey, "runtime/default")),
			want: tweak(base, annotate(corev1.SeccompPodAnnotationKey, "runtime/default"), rd)},
		{name: "deprecated pod annotation docker/default: RuntimeDefault", tags: []string{tagSet},
			in:   tweak(base, annotate(corev1.SeccompPodAnnotationKey, "docker/default")),
			want: tweak(base, annotate(corev1.SeccompPodAnnotationKey, "docker/default"), rd)},
		{name: "deprecated pod annotation localhost/X: Localhost X", tags: []string{tagSet},
			in: tweak(base, annotate(corev1.SeccompPodAnnotationKey, "localhost/profiles/audit.json")),
			want: tweak(base, annotate(corev1.SeccompPodAnnotationKey, "localhost/profiles/audit.json"), func(p *corev1.Pod) {
				podSC(p).SeccompProfile = localhost("profiles/audit.json")
			})},
		{name: "pod annotation and matching field: nothing", tags: []string{tagSet},
			in: tweak(base, annotate(corev1.SeccompPodAnnotationKey, "runtime/default"), rd)},
		{name: "container annotation localhost/X: the container's field; pod level RuntimeDefault", tags: []string{tagSet},
			in: tweak(newPod(ctr("app"), ctr("metrics")), annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "localhost/app.json")),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: localhost("app.json")}), ctr("metrics")),
				annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "localhost/app.json"), rd)},
		{name: "container annotation next to a pod-level field: the container's field", tags: []string{tagSet},
			in: tweak(base, annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "runtime/default"),
				func(p *corev1.Pod) {
					podSC(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
				}),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: runtimeDefault()})),
				annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "runtime/default"),
				func(p *corev1.Pod) {
					podSC(p).SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
				})},
		{name: "container annotation unconfined: the others get RuntimeDefault per container, warn", tags: []string{tagOtherWay},
			in: tweak(newPod(ctr("app"), ctr("metrics")), annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "unconfined")),
			want: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{SeccompProfile: runtimeDefault()})),
				annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "unconfined")),
			wantWarnings: 1},
		{name: "container annotation unconfined with its own field: the field wins, no warning", tags: []string{tagSet},
			in:   tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: unconfined})), annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "unconfined")),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: unconfined})), annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "unconfined"), rd)},
		{name: "pod annotation localhost, one container unconfined: per container Localhost", tags: []string{tagOtherWay},
			in: tweak(newPod(ctr("app"), ctr("metrics")), annotate(corev1.SeccompPodAnnotationKey, "localhost/p.json"),
				annotate(corev1.SeccompContainerAnnotationKeyPrefix+"metrics", "unconfined")),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: localhost("p.json")}), ctr("metrics")),
				annotate(corev1.SeccompPodAnnotationKey, "localhost/p.json"), annotate(corev1.SeccompContainerAnnotationKeyPrefix+"metrics", "unconfined")),
			wantWarnings: 1},
		{name: "init container annotation", tags: []string{tagInit, tagSidecar},
			in: tweak(base, annotate(corev1.SeccompContainerAnnotationKeyPrefix+"proxy", "docker/default"),
				func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{sidecar(ctr("proxy"))} }),
			want: tweak(base, annotate(corev1.SeccompContainerAnnotationKeyPrefix+"proxy", "docker/default"), rd,
				func(p *corev1.Pod) {
					p.Spec.InitContainers = []corev1.Container{sidecar(withSC(ctr("proxy"), &corev1.SecurityContext{SeccompProfile: runtimeDefault()}))}
				})},
		{name: "ephemeral: pod annotation localhost, no pod field: the debugger gets Localhost", tags: []string{tagEphemeral},
			in:       tweak(running, annotate(corev1.SeccompPodAnnotationKey, "localhost/p.json"), withDebugger(nil)),
			existing: running.Spec.EphemeralContainers,
			want:     tweak(running, annotate(corev1.SeccompPodAnnotationKey, "localhost/p.json"), withDebugger(&corev1.SecurityContext{SeccompProfile: localhost("p.json")}))},
		{name: "ephemeral: debugger annotated unconfined: nothing, warn", tags: []string{tagEphemeral, tagOtherWay},
			in:       tweak(running, annotate(corev1.SeccompContainerAnnotationKeyPrefix+"debugger", "unconfined"), withDebugger(nil)),
			existing: running.Spec.EphemeralContainers, wantWarnings: 1},
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

func localhost(p string) *corev1.SeccompProfile {
	return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &p}
}

func TestProfileForAnnotation(t *testing.T) {
	for v, want := range map[string]*corev1.SeccompProfile{
		"runtime/default":       runtimeDefault(),
		"docker/default":        runtimeDefault(),
		"localhost/a/b.json":    localhost("a/b.json"),
		"localhost/..foo":       localhost("..foo"),
		"unconfined":            nil,
		"localhost/":            nil,
		"localhost//abs.json":   nil,
		"localhost/a/../b.json": nil,
		"localhost/..":          nil,
		"Runtime/Default":       nil,
		"":                      nil,
	} {
		if got := profileForAnnotation(v); !cmp.Equal(got, want) {
			t.Errorf("profileForAnnotation(%q) = %v, want %v", v, got, want)
		}
	}
}
