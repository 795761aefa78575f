package podsecurity

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func restrictedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{Name: "app", Image: "app:1", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			}}},
		},
	}
}

func TestWarning(t *testing.T) {
	cases := []struct {
		name string
		mod  func(*corev1.Pod)
		want []string // substrings of the warning; nil: no warning
	}{
		{name: "restricted pod passes"},
		{name: "hostPath volume",
			mod: func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}}}
			},
			want: []string{"restricted volume types", `volume "data" uses restricted volume type "hostPath"`}},
		{name: "added capability",
			mod: func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"NET_ADMIN"}
			},
			want: []string{"unrestricted capabilities", `container "app"`, `"NET_ADMIN"`}},
		{name: "two failures, both named",
			mod: func(p *corev1.Pod) {
				p.Spec.HostNetwork = true
				p.Spec.Containers[0].SecurityContext.Privileged = ptr(true)
			},
			want: []string{"host namespaces", "hostNetwork=true", "privileged", `container "app"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := restrictedPod()
			if tc.mod != nil {
				tc.mod(p)
			}
			got := Warning(p)
			if tc.want == nil {
				if got != "" {
					t.Fatalf("warning %q for a pod that passes", got)
				}
				return
			}
			if !strings.Contains(got, `Pod Security "restricted:latest"`) {
				t.Errorf("warning %q does not name the level", got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("warning %q lacks %q", got, w)
				}
			}
		})
	}
}

// BenchmarkWarning measures the self-check on a pod that passes, the cost
// every review pays after the rules.
func BenchmarkWarning(b *testing.B) {
	p := restrictedPod()
	for b.Loop() {
		if Warning(p) != "" {
			b.Fatal("restricted pod fails")
		}
	}
}

func TestFailures(t *testing.T) {
	if f := Failures(restrictedPod()); f != nil {
		t.Errorf("a restricted pod fails %+v", f)
	}
	p := restrictedPod()
	p.Spec.Containers[0].SecurityContext.Privileged = ptr(true)
	long := strings.Repeat("x", 600)
	p.Spec.Volumes = []corev1.Volume{{Name: long, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/data"}}}}
	f := Failures(p)
	if len(f) != 2 || f[0].Reason != "privileged" || !strings.Contains(f[0].Detail, `container "app"`) || f[1].Reason != "restricted volume types" {
		t.Fatalf("Failures = %+v, want privileged then restricted volume types", f)
	}
	if len(f[1].Detail) != maxDetail+len("...") || !strings.HasSuffix(f[1].Detail, "...") {
		t.Errorf("a detail of %d bytes was not cut to %d: %d bytes", len(long), maxDetail, len(f[1].Detail))
	}
	if v := Violations(p); len(v) != 2 || v[0] != f[0].Reason+": "+f[0].Detail {
		t.Errorf("Violations = %q, want Failures as reason: detail", v)
	}
}
