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
		{name: "drops all in lower case: the user's entry kept, ALL appended", tags: []string{tagSet},
			in:   newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"all"}))),
			want: newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"all", "ALL"})))},
		{name: "drops All, CAP_ALL and cap_all: ALL appended once", tags: []string{tagSet},
			in:   newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"All", "CAP_ALL", "cap_all"}))),
			want: newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"All", "CAP_ALL", "cap_all", "ALL"})))},
		{name: "root container that drops cap_all itself: ALL appended, no warning", tags: []string{tagSet},
			in:   newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(0)), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"cap_all"}}})),
			want: newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(0)), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"cap_all", "ALL"}}}))},
		{name: "runAsUser 0 (chown init container): keeps the runtime's capabilities, warn", tags: []string{tagOtherWay, tagInit},
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), &corev1.SecurityContext{RunAsUser: ptr(int64(0))})}
			}),
			want: tweak(newPod(withSC(ctr("app"), dropAll)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), &corev1.SecurityContext{RunAsUser: ptr(int64(0))})}
			}),
			wantWarnings: 1},
		{name: "pod runs as UID 0, one container overrides with a non-zero UID", tags: []string{tagOtherWay},
			in: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})),
				func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(0)) }),
			want: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}})),
				func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(0)) }),
			wantWarnings: 1},
		{name: "container says runAsNonRoot false: keeps its capabilities, warn", tags: []string{tagOtherWay},
			in:           newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsNonRoot: ptr(false)})),
			wantWarnings: 1},
		{name: "pod says runAsNonRoot false, a container says true", tags: []string{tagOtherWay},
			in: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsNonRoot: ptr(true)})),
				func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(false) }),
			want: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsNonRoot: ptr(true), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}})),
				func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(false) }),
			wantWarnings: 1},
		{name: "adds SYS_ADMIN without a UID: keeps the runtime's capabilities, warn", tags: []string{tagOtherWay},
			in:           newPod(withSC(ctr("app"), caps([]corev1.Capability{"SYS_ADMIN"}, nil))),
			wantWarnings: 1},
		{name: "adds SYS_ADMIN with a non-zero UID: drop ALL, add kept", tags: []string{tagUnset},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}})),
			want: newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000)),
				Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}, Drop: []corev1.Capability{"ALL"}}}))},
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
		{name: "ephemeral: debugger as root keeps its capabilities, warn", tags: []string{tagEphemeral, tagOtherWay},
			in: tweak(running, withDebugger(&corev1.SecurityContext{RunAsUser: ptr(int64(0))})), existing: running.Spec.EphemeralContainers,
			wantWarnings: 1},
		{name: "windows by required node affinity: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), windowsByAffinity)},
		{name: "windows pod: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), windowsPod)},
		{name: "windows by node selector: nothing", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "windows"} })},
	})
	runRuleCases(t, ruleDropAllCapabilities, cases)
}
