package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestFSGroup(t *testing.T) {
	on := Options{Rules: map[string]bool{ruleFSGroup.ID: true}}
	group := func(gid int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			podSC(p).FSGroup = ptr(gid)
			podSC(p).FSGroupChangePolicy = ptr(corev1.FSGroupChangeOnRootMismatch)
		}
	}
	running := runningPod()
	cases := registerCases(ruleFSGroup.ID, []ruleCase{
		{name: "unset: the default group, OnRootMismatch", tags: []string{tagUnset}, opts: on,
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), group(DefaultFSGroup))},
		{name: "configured group", tags: []string{tagUnset}, opts: Options{Rules: on.Rules, FSGroup: 2000},
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), group(2000))},
		{name: "user's change policy kept", tags: []string{tagUnset}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).FSGroupChangePolicy = ptr(corev1.FSGroupChangeAlways) }),
			want: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				podSC(p).FSGroupChangePolicy = ptr(corev1.FSGroupChangeAlways)
				podSC(p).FSGroup = ptr(DefaultFSGroup)
			})},
		{name: "already set", tags: []string{tagSet}, opts: on,
			in: tweak(newPod(ctr("app")), group(1000))},
		{name: "user's fsGroup without a policy: both stay", tags: []string{tagOtherWay}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).FSGroup = ptr(int64(0)) })},
		{name: "init container and sidecar: pod level", tags: []string{tagInit, tagSidecar}, opts: on,
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("init"), sidecar(ctr("proxy"))} }),
			want: tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("init"), sidecar(ctr("proxy"))} }, group(DefaultFSGroup))},
		{name: "ephemeral: the pod level cannot change", tags: []string{tagEphemeral}, opts: on,
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers},
		{name: "windows pod: nothing", tags: []string{tagWindows}, opts: on,
			in: tweak(newPod(ctr("app")), windowsPod)},
		{name: "a container left alone: the group would reach it", tags: []string{tagOtherWay},
			opts: Options{Rules: on.Rules, ExcludeImages: []string{"*legacy*"}},
			in:   newPod(ctr("app"), ctr("legacy"))},
	})
	runRuleCases(t, ruleFSGroup, cases)
}
