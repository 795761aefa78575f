package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNoPrivilegeEscalation(t *testing.T) {
	noAPE := &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false)}
	running := runningPod()
	cases := registerCases(ruleNoPrivilegeEscalation.ID, []ruleCase{
		{name: "unset: false", tags: []string{tagUnset},
			in: newPod(ctr("app")), want: newPod(withSC(ctr("app"), noAPE))},
		{name: "already false", tags: []string{tagSet},
			in: newPod(withSC(ctr("app"), noAPE))},
		{name: "user says true", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(true)}))},
		{name: "privileged", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{Privileged: ptr(true)}))},
		{name: "adds CAP_SYS_ADMIN", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), caps([]corev1.Capability{"CAP_SYS_ADMIN"}, nil)))},
		{name: "adds sys_admin without prefix", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), caps([]corev1.Capability{"sys_admin"}, nil)))},
		{name: "adds ALL", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), caps([]corev1.Capability{"ALL"}, nil)))},
		{name: "adds NET_ADMIN: still defaulted", tags: []string{tagUnset},
			in: newPod(withSC(ctr("app"), caps([]corev1.Capability{"NET_ADMIN"}, nil))),
			want: newPod(withSC(ctr("app"), &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN"}}}))},
		{name: "init container, sidecar and privileged init", tags: []string{tagInit, tagSidecar},
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("sysctl"), &corev1.SecurityContext{Privileged: ptr(true)}), sidecar(ctr("proxy"))}
			}),
			want: tweak(newPod(withSC(ctr("app"), noAPE)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("sysctl"), &corev1.SecurityContext{Privileged: ptr(true)}), sidecar(withSC(ctr("proxy"), noAPE))}
			})},
		{name: "ephemeral: only the new container", tags: []string{tagEphemeral},
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(noAPE))},
		{name: "windows by required node affinity: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), windowsByAffinity)},
		{name: "windows pod: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), windowsPod)},
	})
	runRuleCases(t, ruleNoPrivilegeEscalation, cases)
}
