package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRunAsNonRoot(t *testing.T) {
	base := newPod(ctr("app"))
	nonRootPod := func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(true) }
	root := &corev1.SecurityContext{RunAsUser: ptr(int64(0))}
	running := runningPod()
	cases := registerCases(ruleRunAsNonRoot.ID, []ruleCase{
		{name: "unset: set at pod level", tags: []string{tagUnset},
			in: base, want: tweak(base, nonRootPod)},
		{name: "already set at pod level", tags: []string{tagSet},
			in: tweak(base, nonRootPod)},
		{name: "pod level set, a container added later runs as root: warn, change nothing", tags: []string{tagSet},
			in: tweak(newPod(ctr("app"), withSC(ctr("injected"), root)), nonRootPod), wantWarnings: 1},
		{name: "pod level set, a privileged container may run as non-root: no warning", tags: []string{tagSet},
			in: tweak(newPod(ctr("app"), withSC(ctr("csi"), &corev1.SecurityContext{Privileged: ptr(true)})), nonRootPod)},
		{name: "pod says false", tags: []string{tagOtherWay},
			in: tweak(base, func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(false) })},
		{name: "container says false: pod level set, container keeps its own", tags: []string{tagOtherWay},
			in:   newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsNonRoot: ptr(false)})),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsNonRoot: ptr(false)})), nonRootPod)},
		{name: "container runs as UID 0: set on the others only, warn", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), root), ctr("metrics")),
			want: newPod(withSC(ctr("app"), root),
				withSC(ctr("metrics"), &corev1.SecurityContext{RunAsNonRoot: ptr(true)})),
			wantWarnings: 1},
		{name: "pod runs as UID 0: nothing set, warn per container", tags: []string{tagOtherWay},
			in:           tweak(newPod(ctr("app"), ctr("metrics")), func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(0)) }),
			wantWarnings: 2},
		{name: "pod UID 0 but container overrides with non-zero UID", tags: []string{tagOtherWay},
			in: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})),
				func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(0)) }),
			want: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), RunAsNonRoot: ptr(true)})),
				func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(0)) }),
			wantWarnings: 1},
		{name: "container UID 0 with its own runAsNonRoot is its own choice", tags: []string{tagSet},
			in:   newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(false)})),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(0)), RunAsNonRoot: ptr(false)})), nonRootPod)},
		{name: "init container and sidecar covered by the pod level", tags: []string{tagInit, tagSidecar, tagUnset},
			in:   tweak(base, func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("migrate"), sidecar(ctr("proxy"))} }),
			want: tweak(base, func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("migrate"), sidecar(ctr("proxy"))} }, nonRootPod)},
		{name: "root init container: sidecar and app get their own", tags: []string{tagInit, tagSidecar},
			in: tweak(base, func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), root), sidecar(ctr("proxy"))}
			}),
			want: tweak(base, func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), root),
					sidecar(withSC(ctr("proxy"), &corev1.SecurityContext{RunAsNonRoot: ptr(true)}))}
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(true)}
			}),
			wantWarnings: 1},
		{name: "ephemeral: new container gets its own, old ones and pod untouched", tags: []string{tagEphemeral, tagUnset},
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(&corev1.SecurityContext{RunAsNonRoot: ptr(true)}))},
		{name: "ephemeral: pod level already set", tags: []string{tagEphemeral, tagSet},
			in: tweak(running, nonRootPod, withDebugger(nil)), existing: running.Spec.EphemeralContainers},
		{name: "ephemeral: debugger runs as root", tags: []string{tagEphemeral, tagOtherWay},
			in: tweak(running, withDebugger(root)), existing: running.Spec.EphemeralContainers, wantWarnings: 1},
		{name: "ephemeral in a CREATE-style pass is covered by the pod level", tags: []string{tagEphemeral},
			in: tweak(base, withDebugger(nil)), want: tweak(base, withDebugger(nil), nonRootPod)},
		{name: "windows pod: runAsNonRoot is valid there", tags: []string{tagWindows, tagUnset},
			in: tweak(base, windowsPod), want: tweak(base, windowsPod, nonRootPod)},
		{name: "windows by node affinity: runAsNonRoot is valid there", tags: []string{tagWindows, tagUnset},
			in: tweak(base, windowsByAffinity), want: tweak(base, windowsByAffinity, nonRootPod)},
		{name: "windows pod as ContainerAdministrator: nothing, warn", tags: []string{tagWindows, tagOtherWay},
			in: tweak(base, windowsPod, func(p *corev1.Pod) {
				podSC(p).WindowsOptions = &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("ContainerAdministrator")}
			}),
			wantWarnings: 1},
		{name: "user namespace (hostUsers: false): nothing", tags: []string{tagOtherWay},
			in: tweak(base, func(p *corev1.Pod) { p.Spec.HostUsers = ptr(false) })},
		{name: "user namespace, ephemeral debugger: nothing", tags: []string{tagEphemeral, tagOtherWay},
			in:       tweak(running, func(p *corev1.Pod) { p.Spec.HostUsers = ptr(false) }, withDebugger(nil)),
			existing: running.Spec.EphemeralContainers},
		{name: "hostUsers: true is the default: set", tags: []string{tagUnset},
			in:   tweak(base, func(p *corev1.Pod) { p.Spec.HostUsers = ptr(true) }),
			want: tweak(base, func(p *corev1.Pod) { p.Spec.HostUsers = ptr(true) }, nonRootPod)},
		{name: "pod says runAsNonRoot false for all: nothing", tags: []string{tagOtherWay},
			in: tweak(newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})),
				func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(false) })},
		{name: "windows HostProcess pod: nothing", tags: []string{tagWindows},
			in: tweak(base, windowsPod, func(p *corev1.Pod) {
				podSC(p).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true), RunAsUserName: ptr("NT AUTHORITY\\SYSTEM")}
				p.Spec.HostNetwork = true
			})},
	})
	runRuleCases(t, ruleRunAsNonRoot, cases)
}

func TestRunAsNonRootPrivilegedContainers(t *testing.T) {
	nonRoot := &corev1.SecurityContext{RunAsNonRoot: ptr(true)}
	priv := &corev1.SecurityContext{Privileged: ptr(true)}
	sysAdmin := caps([]corev1.Capability{"SYS_ADMIN"}, nil)
	privNonZero := &corev1.SecurityContext{Privileged: ptr(true), RunAsUser: ptr(int64(1000))}
	runRuleCases(t, ruleRunAsNonRoot, []ruleCase{
		{name: "privileged container: set on the others, warn", tags: []string{tagOtherWay},
			in:           newPod(withSC(ctr("csi"), priv), ctr("registrar")),
			want:         newPod(withSC(ctr("csi"), priv), withSC(ctr("registrar"), nonRoot)),
			wantWarnings: 1},
		{name: "SYS_ADMIN container: set on the others, warn", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("mounter"), sysAdmin), ctr("app")),
			want: newPod(withSC(ctr("mounter"), sysAdmin),
				withSC(ctr("app"), nonRoot)),
			wantWarnings: 1},
		{name: "privileged with a non-zero UID is not root", tags: []string{tagUnset},
			in:   newPod(withSC(ctr("csi"), privNonZero)),
			want: tweak(newPod(withSC(ctr("csi"), privNonZero)), func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(true) })},
		{name: "privileged with pod-level non-zero UID is not root", tags: []string{tagUnset},
			in: tweak(newPod(withSC(ctr("csi"), priv)), func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(1000)) }),
			want: tweak(newPod(withSC(ctr("csi"), priv)), func(p *corev1.Pod) {
				podSC(p).RunAsUser = ptr(int64(1000))
				podSC(p).RunAsNonRoot = ptr(true)
			})},
	})
}

// TestRunAsNonRootImagePins: with image lookup, a container whose image runs
// as a user name gets that user's UID pinned, so the kubelet can verify
// runAsNonRoot; and a root image counts as needing root.
func TestRunAsNonRootImagePins(t *testing.T) {
	gid := int64(50)
	pins := func(names ...string) Options {
		o := Options{Facts: Facts{Pins: map[string]Pin{}}}
		for _, n := range names {
			o.Facts.Pins[n] = Pin{UID: 1000, GID: &gid}
		}
		return o
	}
	uid := func(u int64) *corev1.SecurityContext {
		return &corev1.SecurityContext{RunAsUser: ptr(u), RunAsGroup: ptr(gid)}
	}
	nonRootPod := func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(true) }
	running := runningPod()
	runRuleCases(t, ruleRunAsNonRoot, []ruleCase{
		{name: "unset: user and group pinned, runAsNonRoot at pod level", tags: []string{tagUnset},
			in: newPod(ctr("app"), ctr("metrics")), opts: pins("app"),
			want: tweak(newPod(withSC(ctr("app"), uid(1000)), ctr("metrics")), nonRootPod), wantWarnings: 1},
		{name: "init container and sidecar pinned", tags: []string{tagInit, tagSidecar},
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("migrate"), sidecar(ctr("proxy"))} }),
			opts: pins("migrate", "proxy"),
			want: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("migrate"), uid(1000)), sidecar(withSC(ctr("proxy"), uid(1000)))}
			}, nonRootPod), wantWarnings: 2},
		{name: "container sets runAsUser: kept", tags: []string{tagSet},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(7))})), opts: pins("app"),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(7))})), nonRootPod)},
		{name: "pod sets runAsUser: kept", tags: []string{tagSet},
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(7)) }),
			opts: pins("app"),
			want: tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(7)) }, nonRootPod)},
		{name: "pod sets runAsGroup: only the user pinned", tags: []string{tagSet},
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).RunAsGroup = ptr(int64(9)) }),
			opts: pins("app"),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})), func(p *corev1.Pod) { podSC(p).RunAsGroup = ptr(int64(9)) }, nonRootPod), wantWarnings: 1},
		{name: "pod sets runAsNonRoot: the pin still lets it start", tags: []string{tagSet},
			in: tweak(newPod(ctr("app")), nonRootPod), opts: pins("app"),
			want: tweak(newPod(withSC(ctr("app"), uid(1000))), nonRootPod), wantWarnings: 1},
		{name: "runAsNonRoot: false is root on purpose: no pin", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsNonRoot: ptr(false)})), opts: pins("app"),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{RunAsNonRoot: ptr(false)})), nonRootPod)},
		{name: "image runs as root: needs root, warning names the reason", tags: []string{tagOtherWay},
			in:           newPod(ctr("app"), ctr("metrics")),
			opts:         Options{Facts: Facts{NeedsRoot: map[string]string{"app": "its image r.example/app:1 runs as root"}}},
			want:         newPod(ctr("app"), withSC(ctr("metrics"), &corev1.SecurityContext{RunAsNonRoot: ptr(true)})),
			wantWarnings: 1},
		{name: "ephemeral: only the new debugger pinned", tags: []string{tagEphemeral},
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			opts:         pins("debugger", "app"),
			want:         tweak(running, withDebugger(&corev1.SecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(gid), RunAsNonRoot: ptr(true)})),
			wantWarnings: 1},
		{name: "windows pod: no pin", tags: []string{tagWindows},
			in: tweak(newPod(ctr("app")), windowsPod), opts: pins("app"),
			want: tweak(newPod(ctr("app")), windowsPod, nonRootPod)},
		{name: "a pin of UID 0 is ignored", tags: []string{tagOtherWay},
			in: newPod(ctr("app")), opts: Options{Facts: Facts{Pins: map[string]Pin{"app": {UID: 0}}}},
			want: tweak(newPod(ctr("app")), nonRootPod)},
	})
}
