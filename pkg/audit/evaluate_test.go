package audit

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

func basePod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}},
		},
	}
}

func tweak(p *corev1.Pod, f func(*corev1.Pod)) *corev1.Pod {
	p = p.DeepCopy()
	f(p)
	return p
}

// hardenedSC is what Pod Security "restricted" asks of a Linux container.
func hardenedSC() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

const allButTmp = "drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default"

func TestEvaluate(t *testing.T) {
	ev := NewEvaluator(defaults.Options{}, nil)
	cases := []struct {
		name string
		pod  *corev1.Pod
		// want
		rules          string
		before, after  bool
		stillFails     []string // reasons
		root           []RootContainer
		start          string
		startMentions  string
		optedOut       bool
		warningMention string
	}{
		{
			name: "plain pod: every rule but tmp, passes only after, start depends on the image",
			pod:  basePod(), rules: allButTmp, before: false, after: true, start: StartUnknown, startMentions: `container "app"`,
		},
		{
			name: "already hardened with a UID: nothing to do, starts",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
				p.Spec.Containers[0].SecurityContext = hardenedSC()
			}),
			before: true, after: true, start: Starts,
		},
		{
			name: "explicit non-zero UID: runAsNonRoot added, the kubelet need not look at the image",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)}
			}),
			rules: allButTmp, after: true, start: Starts,
		},
		{
			name: "runAsNonRoot already true: the start is not the rules' doing",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
			}),
			rules: "drop-all-capabilities,no-privilege-escalation,seccomp-runtime-default", after: true, start: Starts,
		},
		{
			name: "UID 0 container: keeps root, the others get runAsNonRoot, still fails restricted",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{{Name: "chown", Image: "busybox", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}}}
			}),
			rules: allButTmp, stillFails: []string{"unrestricted capabilities", "runAsNonRoot != true", "runAsUser=0"},
			root:  []RootContainer{{Container: "chown", Type: "initContainers", Reason: "runAsUser: 0"}},
			start: StartUnknown, startMentions: `container "app"`, warningMention: `"chown" runs as root`,
		},
		{
			name: "privileged: fails restricted after, needs root",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			}),
			rules: "seccomp-runtime-default", stillFails: []string{"privileged", "allowPrivilegeEscalation != false", "unrestricted capabilities", "runAsNonRoot != true"},
			root:  []RootContainer{{Container: "app", Type: "containers", Reason: "privileged: true"}},
			start: Starts, warningMention: "runs as root",
		},
		{
			name: "opted out: no rule, the verdicts of the pod as it is",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Annotations = map[string]string{defaults.InjectKey: defaults.InjectDisabled}
			}),
			optedOut: true, stillFails: []string{"allowPrivilegeEscalation != false", "unrestricted capabilities", "runAsNonRoot != true", "seccompProfile"}, start: Starts,
		},
		{
			name: "Windows pod: runAsNonRoot only, start depends on the image's user name",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			}),
			rules: "run-as-non-root", after: true, start: StartUnknown, startMentions: "runAsUserName",
		},
		{
			name: "Windows pod with a named account: starts",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				p.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr.To("ContainerUser")}}
			}),
			rules: "run-as-non-root", after: true, start: Starts,
		},
		{
			name: "read-only root filesystem: tmp-emptydir too",
			pod: tweak(basePod(), func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), RunAsUser: ptr.To[int64](1000)}
			}),
			rules: allButTmp + ",tmp-emptydir", after: true, start: Starts,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.pod.DeepCopy()
			got := ev.Evaluate(context.Background(), tc.pod)
			if diff := cmp.Diff(in, tc.pod); diff != "" {
				t.Fatalf("Evaluate changed its input:\n%s", diff)
			}
			if g := strings.Join(got.Rules, ","); g != tc.rules {
				t.Errorf("rules = %q, want %q", g, tc.rules)
			}
			if got.OptedOut != tc.optedOut {
				t.Errorf("optedOut = %v, want %v", got.OptedOut, tc.optedOut)
			}
			if got.Restricted.Before != tc.before || got.Restricted.After != tc.after {
				t.Errorf("restricted before/after = %v/%v, want %v/%v (still fails: %+v)", got.Restricted.Before, got.Restricted.After, tc.before, tc.after, got.Restricted.StillFails)
			}
			var reasons []string
			for _, v := range got.Restricted.StillFails {
				reasons = append(reasons, v.Reason)
			}
			if diff := cmp.Diff(tc.stillFails, reasons); diff != "" {
				t.Errorf("still fails (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(nonNil(tc.root), got.NeedsRoot); diff != "" {
				t.Errorf("needs root (-want +got):\n%s", diff)
			}
			if got.Start.Verdict != tc.start {
				t.Errorf("start = %s, want %s (%v)", got.Start.Verdict, tc.start, got.Start.Reasons)
			}
			if tc.startMentions != "" && !strings.Contains(strings.Join(got.Start.Reasons, "\n"), tc.startMentions) {
				t.Errorf("start reasons %q do not mention %q", got.Start.Reasons, tc.startMentions)
			}
			if tc.start == Starts && len(got.Start.Reasons) != 0 {
				t.Errorf("start reasons for a pod that starts: %q", got.Start.Reasons)
			}
			if tc.warningMention != "" && !strings.Contains(strings.Join(got.Warnings, "\n"), tc.warningMention) {
				t.Errorf("warnings %q do not mention %q", got.Warnings, tc.warningMention)
			}
		})
	}
}

// TestStartVerdictWouldNotStart covers the verdict the rules themselves
// never cause: runAsNonRoot newly in force over an explicit root user, as a
// rule set that differs from today's could produce.
func TestStartVerdictWouldNotStart(t *testing.T) {
	before := tweak(basePod(), func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}
	})
	after := tweak(before, func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	})
	got := startVerdict(before, after, nil)
	if got.Verdict != WouldNotStart || len(got.Reasons) != 1 || !strings.Contains(got.Reasons[0], "runAsUser: 0") {
		t.Errorf("start = %+v, want would-not-start naming runAsUser: 0", got)
	}
	winBefore := tweak(basePod(), func(p *corev1.Pod) {
		p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr.To("ContainerAdministrator")}}
	})
	winAfter := tweak(winBefore, func(p *corev1.Pod) {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	})
	if got := startVerdict(winBefore, winAfter, nil); got.Verdict != WouldNotStart {
		t.Errorf("Windows administrator under runAsNonRoot: start = %+v, want would-not-start", got)
	}
}

// BenchmarkEvaluate is the CPU cost of one workload: the rules on a copy and
// Pod Security twice.
func BenchmarkEvaluate(b *testing.B) {
	ev := NewEvaluator(defaults.Options{}, nil)
	pod := tweak(basePod(), func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{{Name: "chown", Image: "busybox", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}}}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "sidecar", Image: "proxy:1"})
	})
	b.ReportAllocs()
	for b.Loop() {
		ev.Evaluate(context.Background(), pod)
	}
}

// TestEvaluateSkipsAndOptions: the pod's skip annotations and the
// configuration's options reach the report as the webhook would apply them.
func TestEvaluateSkipsAndOptions(t *testing.T) {
	pod := tweak(basePod(), func(p *corev1.Pod) {
		p.Annotations = map[string]string{
			defaults.SkipRulesAnnotation:      "seccomp-runtime-default",
			defaults.SkipContainersAnnotation: "legacy",
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "legacy", Image: "old:1"})
	})
	got := NewEvaluator(defaults.Options{}, nil).Evaluate(context.Background(), pod)
	if strings.Join(got.Rules, ",") != "drop-all-capabilities,no-privilege-escalation,run-as-non-root" {
		t.Errorf("rules = %v", got.Rules)
	}
	if diff := cmp.Diff([]string{"seccomp-runtime-default"}, got.SkippedRules); diff != "" {
		t.Errorf("skipped rules (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]SkippedContainer{{Container: "legacy", Reason: defaults.SkipReasonAnnotation}}, got.SkippedContainers); diff != "" {
		t.Errorf("skipped containers (-want +got):\n%s", diff)
	}
	if got.Restricted.After {
		t.Errorf("a pod with a skipped container and no seccomp profile passes restricted after the rules")
	}

	// The configuration turns a rule off and ignores pod opt-outs.
	opted := tweak(basePod(), func(p *corev1.Pod) {
		p.Annotations = map[string]string{defaults.InjectKey: defaults.InjectDisabled}
	})
	got = NewEvaluator(defaults.Options{Rules: map[string]bool{"run-as-non-root": false}, IgnorePodOptOut: true}, nil).Evaluate(context.Background(), opted)
	if got.OptedOut || strings.Join(got.Rules, ",") != "drop-all-capabilities,no-privilege-escalation,seccomp-runtime-default" {
		t.Errorf("with run-as-non-root off and opt-outs ignored: optedOut %v, rules %v", got.OptedOut, got.Rules)
	}
	if got.Start.Verdict != Starts {
		t.Errorf("without run-as-non-root nothing depends on the image: start = %+v", got.Start)
	}
}
