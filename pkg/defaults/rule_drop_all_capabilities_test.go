package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func caps(add, drop []corev1.Capability) *corev1.SecurityContext {
	return &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: add, Drop: drop}}
}

func TestDropAllCapabilities(t *testing.T) {
	dropAll := caps(nil, []corev1.Capability{"ALL"})
	running := runningPod()
	cases := registerCases(ruleDropAllCapabilities.ID, []ruleCase{
		{name: "unset: drop ALL", tags: []string{tagUnset},
			in: newPod(ctr("app")), want: newPod(withSC(ctr("app"), dropAll))},
		{name: "empty security context", tags: []string{tagUnset},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{})), want: newPod(withSC(ctr("app"), dropAll))},
		{name: "already drops ALL", tags: []string{tagSet},
			in: newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"NET_RAW", "ALL"})))},
		{name: "drops all in lower case", tags: []string{tagSet},
			in: newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"all"})))},
		{name: "user's drops kept in order, ALL appended; add kept", tags: []string{tagUnset},
			in:   newPod(withSC(ctr("app"), caps([]corev1.Capability{"NET_BIND_SERVICE"}, []corev1.Capability{"NET_RAW", "MKNOD"}))),
			want: newPod(withSC(ctr("app"), caps([]corev1.Capability{"NET_BIND_SERVICE"}, []corev1.Capability{"NET_RAW", "MKNOD", "ALL"})))},
		{name: "adds ALL: left alone", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), caps([]corev1.Capability{"ALL"}, nil)))},
		{name: "privileged: left alone", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{Privileged: ptr(true)}))},
		{name: "privileged false still defaulted", tags: []string{tagUnset},
			in:   newPod(withSC(ctr("app"), &corev1.SecurityContext{Privileged: ptr(false)})),
			want: newPod(withSC(ctr("app"), &corev1.SecurityContext{Privileged: ptr(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}))},
		{name: "init containers and sidecars", tags: []string{tagInit, tagSidecar},
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{ctr("migrate"), sidecar(withSC(ctr("proxy"), caps([]corev1.Capability{"NET_ADMIN"}, nil)))}
			}),
			want: tweak(newPod(withSC(ctr("app"), dropAll)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("migrate"), dropAll),
					sidecar(withSC(ctr("proxy"), caps([]corev1.Capability{"NET_ADMIN"}, []corev1.Capability{"ALL"})))}
			})},
		{name: "ephemeral: only the new container", tags: []string{tagEphemeral},
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(dropAll))},
		{name: "ephemeral: new container adds SYS_PTRACE", tags: []string{tagEphemeral},
			in: tweak(running, withDebugger(caps([]corev1.Capability{"SYS_PTRACE"}, nil))), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(caps([]corev1.Capability{"SYS_PTRACE"}, []corev1.Capability{"ALL"})))},
		{name: "windows pod: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), windowsPod)},
		{name: "windows by node selector: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "windows"} })},
	})
	runRuleCases(t, ruleDropAllCapabilities, cases)
}
