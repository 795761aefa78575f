package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRunAsUser(t *testing.T) {
	on := Options{Rules: map[string]bool{ruleRunAsUser.ID: true}}
	user := func(uid, gid int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) { podSC(p).RunAsUser, podSC(p).RunAsGroup = ptr(uid), ptr(gid) }
	}
	ids := &corev1.SecurityContext{RunAsUser: ptr(DefaultRunAsUser), RunAsGroup: ptr(DefaultRunAsUser)}
	root := &corev1.SecurityContext{RunAsUser: ptr(int64(0))}
	running := runningPod()
	cases := registerCases(ruleRunAsUser.ID, []ruleCase{
		{name: "unset: the default IDs at pod level", tags: []string{tagUnset}, opts: on,
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), user(DefaultRunAsUser, DefaultRunAsUser))},
		{name: "configured IDs", tags: []string{tagUnset}, opts: Options{Rules: on.Rules, RunAsUser: 1001, RunAsGroup: 2002},
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), user(1001, 2002))},
		{name: "pod's group kept", tags: []string{tagUnset}, opts: on,
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).RunAsGroup = ptr(int64(7)) }),
			want: tweak(newPod(ctr("app")), user(DefaultRunAsUser, 7))},
		{name: "pod sets a user", tags: []string{tagSet}, opts: on,
			in: tweak(newPod(ctr("app")), user(1000, 1000))},
		{name: "a container needs root: per container on the others", tags: []string{tagOtherWay}, opts: on,
			in:   newPod(ctr("app"), withSC(ctr("root"), root)),
			want: newPod(withSC(ctr("app"), ids), withSC(ctr("root"), root))},
		{name: "a container sets its own user", tags: []string{tagSet}, opts: on,
			in:   newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})),
			want: tweak(newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})), user(DefaultRunAsUser, DefaultRunAsUser))},
		{name: "init container as root, sidecar without a user", tags: []string{tagInit, tagSidecar}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), root), sidecar(ctr("proxy"))}
			}),
			want: tweak(newPod(withSC(ctr("app"), ids)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), root), sidecar(withSC(ctr("proxy"), ids))}
			})},
		{name: "ephemeral: per new container", tags: []string{tagEphemeral}, opts: on,
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(ids))},
		{name: "windows pod: nothing", tags: []string{tagWindows}, opts: on,
			in: tweak(newPod(ctr("app")), windowsPod)},
	})
	runRuleCases(t, ruleRunAsUser, cases)
}
