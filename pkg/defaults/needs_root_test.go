package defaults

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestNeedsRootLists(t *testing.T) {
	base := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init"}},
		Containers:     []corev1.Container{{Name: "app"}, {Name: "side"}},
	}}
	tweak := func(f func(*corev1.Pod)) *corev1.Pod {
		p := base.DeepCopy()
		f(p)
		return p
	}
	cases := []struct {
		name  string
		pod   *corev1.Pod
		facts Facts
		want  []RootContainer
	}{
		{name: "unset: nobody needs root", pod: base},
		{
			name: "explicit UID 0 on an init container",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.InitContainers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr[int64](0)}
			}),
			want: []RootContainer{{Kind: "initContainers", Name: "init", Reason: "runAsUser: 0"}},
		},
		{
			name: "pod UID 0, one container overrides with a non-zero UID",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr[int64](0)}
				p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr[int64](1000)}
			}),
			want: []RootContainer{
				{Kind: "initContainers", Name: "init", Reason: "runAsUser: 0"},
				{Kind: "containers", Name: "app", Reason: "runAsUser: 0"},
			},
		},
		{
			name: "runAsNonRoot false at pod level, a container sets true",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr(false)}
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: ptr(true)}
			}),
			want: []RootContainer{
				{Kind: "initContainers", Name: "init", Reason: "runAsNonRoot: false"},
				{Kind: "containers", Name: "side", Reason: "runAsNonRoot: false"},
			},
		},
		{
			name: "privileged, and SYS_ADMIN with a non-zero UID (not root)",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
				p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{
					RunAsUser:    ptr[int64](1000),
					Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}},
				}
			}),
			want: []RootContainer{{Kind: "containers", Name: "app", Reason: "privileged: true"}},
		},
		{
			name: "ephemeral container adding ALL",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name:            "debug",
					SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"ALL"}}},
				}}}
			}),
			want: []RootContainer{{Kind: "ephemeralContainers", Name: "debug", Reason: "it adds ALL capabilities"}},
		},
		{
			name: "a fact: the image runs as root; a manifest's non-zero UID wins over it",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.Containers[1].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr[int64](1000)}
			}),
			facts: Facts{NeedsRoot: map[string]string{"app": `its image runs as user "root"`, "side": "its image runs as root", "gone": "x"}},
			want:  []RootContainer{{Kind: "containers", Name: "app", Reason: `its image runs as user "root"`}},
		},
		{
			name: "Windows ContainerAdministrator",
			pod: tweak(func(p *corev1.Pod) {
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				p.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("ContainerAdministrator")}}
				p.Spec.InitContainers = nil
				p.Spec.Containers = p.Spec.Containers[:1]
			}),
			want: []RootContainer{{Kind: "containers", Name: "app", Reason: "runAsUserName: ContainerAdministrator"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.pod.DeepCopy()
			got := NeedsRoot(tc.pod, Options{Facts: tc.facts})
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("NeedsRoot (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(before, tc.pod); diff != "" {
				t.Errorf("NeedsRoot changed the pod:\n%s", diff)
			}
		})
	}
}

func TestIsWindowsExported(t *testing.T) {
	linux := &corev1.Pod{}
	byOS := &corev1.Pod{Spec: corev1.PodSpec{OS: &corev1.PodOS{Name: corev1.Windows}}}
	byAffinity := &corev1.Pod{Spec: corev1.PodSpec{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"windows"}}},
		}}},
	}}}}
	if IsWindows(linux) || !IsWindows(byOS) || !IsWindows(byAffinity) {
		t.Errorf("IsWindows: linux %v, spec.os %v, affinity %v; want false, true, true", IsWindows(linux), IsWindows(byOS), IsWindows(byAffinity))
	}
}
