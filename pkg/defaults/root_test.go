package defaults

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// TestNeedsRoot holds the one definition of "needs root" every rule reads.
func TestNeedsRoot(t *testing.T) {
	uid := func(v int64) *int64 { return &v }
	addCaps := func(c ...corev1.Capability) *corev1.Capabilities { return &corev1.Capabilities{Add: c} }
	admin := &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("containeradministrator")}
	cases := []struct {
		name string
		pod  *corev1.PodSecurityContext
		sc   *corev1.SecurityContext
		fact string
		want string
	}{
		{name: "nothing set", want: ""},
		{name: "container UID 0", sc: &corev1.SecurityContext{RunAsUser: uid(0)}, want: reasonUID0},
		{name: "pod UID 0", pod: &corev1.PodSecurityContext{RunAsUser: uid(0)}, want: reasonUID0},
		{name: "pod UID 0, container non-zero", pod: &corev1.PodSecurityContext{RunAsUser: uid(0)}, sc: &corev1.SecurityContext{RunAsUser: uid(1000)}, want: ""},
		{name: "pod non-zero, container UID 0", pod: &corev1.PodSecurityContext{RunAsUser: uid(1000)}, sc: &corev1.SecurityContext{RunAsUser: uid(0)}, want: reasonUID0},
		{name: "UID 0 beats runAsNonRoot true", sc: &corev1.SecurityContext{RunAsUser: uid(0), RunAsNonRoot: ptr(true)}, want: reasonUID0},
		{name: "Windows ContainerAdministrator in any case", pod: &corev1.PodSecurityContext{WindowsOptions: admin}, want: reasonWindowsAdmin},
		{name: "container runAsNonRoot false", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(false)}, want: "runAsNonRoot: false"},
		{name: "pod runAsNonRoot false", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr(false)}, want: "runAsNonRoot: false"},
		{name: "pod false, container true", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr(false)}, sc: &corev1.SecurityContext{RunAsNonRoot: ptr(true)}, want: ""},
		{name: "runAsNonRoot false with a non-zero UID", sc: &corev1.SecurityContext{RunAsNonRoot: ptr(false), RunAsUser: uid(1000)}, want: ""},
		{name: "privileged", sc: &corev1.SecurityContext{Privileged: ptr(true)}, want: "privileged: true"},
		{name: "privileged with a non-zero pod UID", pod: &corev1.PodSecurityContext{RunAsUser: uid(1000)}, sc: &corev1.SecurityContext{Privileged: ptr(true)}, want: ""},
		{name: "privileged under runAsNonRoot true", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)}, sc: &corev1.SecurityContext{Privileged: ptr(true)}, want: ""},
		{name: "adds cap_sys_admin", sc: &corev1.SecurityContext{Capabilities: addCaps("cap_sys_admin")}, want: "it adds CAP_SYS_ADMIN"},
		{name: "adds all", sc: &corev1.SecurityContext{Capabilities: addCaps("all")}, want: "it adds ALL capabilities"},
		{name: "adds NET_ADMIN only", sc: &corev1.SecurityContext{Capabilities: addCaps("NET_ADMIN")}, want: ""},
		{name: "fact", fact: "its image runs as root", want: "its image runs as root"},
		{name: "fact, but the manifest sets a non-zero UID", fact: "its image runs as root", sc: &corev1.SecurityContext{RunAsUser: uid(1000)}, want: ""},
		{name: "fact, but the manifest says runAsNonRoot true", fact: "its image runs as root", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)}, want: ""},
		{name: "manifest reason wins over the fact", fact: "its image runs as root", sc: &corev1.SecurityContext{RunAsUser: uid(0)}, want: reasonUID0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsRoot(tc.pod, tc.sc, tc.fact); got != tc.want {
				t.Errorf("needsRoot = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestFactsNeedsRoot checks the seam for facts from outside the manifest: a
// container the caller says needs root gets what a runAsUser: 0 container
// gets, in CREATE and ephemeral passes, and names it in the warnings.
func TestFactsNeedsRoot(t *testing.T) {
	facts := Facts{NeedsRoot: map[string]string{"web": "its image runs as user root", "debugger": "its image has no user", "gone": "x"}}
	pod := newPod(ctr("web"), ctr("metrics"))
	got := pod.DeepCopy()
	res := Apply(got, Options{Facts: facts})
	want := tweak(pod, func(p *corev1.Pod) {
		podSC(p).SeccompProfile = runtimeDefault()
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false)}
		p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(true), AllowPrivilegeEscalation: ptr(false),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	}, annotated(fourRules))
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pod (-want +got):\n%s", d)
	}
	if n := countContaining(res.Warnings, "its image runs as user root"); n != 2 {
		t.Errorf("warnings naming the fact = %d, want 2 (run-as-non-root, drop-all-capabilities): %q", n, res.Warnings)
	}
	// A second pass with the same facts changes nothing.
	if again := Apply(got.DeepCopy(), Options{Facts: facts}); again.Changed() {
		t.Errorf("second pass applied %q", again.Applied)
	}

	running := runningPod()
	upd := tweak(running, withDebugger(nil))
	res = ApplyEphemeral(upd, running.Spec.EphemeralContainers, Options{Facts: facts})
	wantUpd := tweak(running, withDebugger(&corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false), SeccompProfile: runtimeDefault()}))
	if d := cmp.Diff(wantUpd, upd); d != "" {
		t.Errorf("ephemeral update (-want +got):\n%s", d)
	}
	if n := countContaining(res.Warnings, "its image has no user"); n != 2 {
		t.Errorf("ephemeral warnings naming the fact = %d, want 2: %q", n, res.Warnings)
	}
}

func countContaining(list []string, sub string) int {
	return len(slices.DeleteFunc(slices.Clone(list), func(s string) bool { return !strings.Contains(s, sub) }))
}

// TestIsWindows holds which pods count as Windows pods.
func TestIsWindows(t *testing.T) {
	term := func(exprs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: exprs}
	}
	os := func(op corev1.NodeSelectorOperator, v ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: "kubernetes.io/os", Operator: op, Values: v}
	}
	affinity := func(terms ...corev1.NodeSelectorTerm) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
		}
	}
	base := newPod(ctr("app"))
	cases := []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"plain", base, false},
		{"spec.os windows", tweak(base, windowsPod), true},
		{"spec.os linux beats a windows node selector", tweak(base, func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "windows"}
		}), false},
		{"node selector", tweak(base, func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "Windows"} }), true},
		{"affinity, one term", tweak(base, windowsByAffinity), true},
		{"affinity, every term windows", tweak(base, affinity(term(os(corev1.NodeSelectorOpIn, "windows")), term(os(corev1.NodeSelectorOpIn, "WINDOWS")))), true},
		{"affinity, one term may be linux", tweak(base, affinity(term(os(corev1.NodeSelectorOpIn, "windows")), term(os(corev1.NodeSelectorOpIn, "linux")))), false},
		{"affinity, windows or linux", tweak(base, affinity(term(os(corev1.NodeSelectorOpIn, "windows", "linux")))), false},
		{"affinity, NotIn linux", tweak(base, affinity(term(os(corev1.NodeSelectorOpNotIn, "linux")))), false},
		{"affinity, a term without os", tweak(base, affinity(term(os(corev1.NodeSelectorOpIn, "windows")), term())), false},
		{"affinity, no terms", tweak(base, affinity()), false},
		{"preferred affinity only", tweak(base, func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{
				{Weight: 1, Preference: term(os(corev1.NodeSelectorOpIn, "windows"))}}}}
		}), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := isWindows(tc.pod); got != tc.want {
				t.Errorf("isWindows = %v, want %v", got, tc.want)
			}
		})
	}
}
