package defaults

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// hardened is what every rule together makes of a plain one-container pod.
func hardened(p *corev1.Pod) {
	sc := podSC(p)
	sc.RunAsNonRoot = ptr(true)
	sc.SeccompProfile = runtimeDefault()
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		if c.SecurityContext == nil {
			c.SecurityContext = &corev1.SecurityContext{}
		}
		c.SecurityContext.AllowPrivilegeEscalation = ptr(false)
		c.SecurityContext.Capabilities = &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}
	}
}

func annotated(v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[DefaultedAnnotation] = v
	}
}

const fourRules = "drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default"

func TestApply(t *testing.T) {
	base := newPod(ctr("app"))
	cases := []struct {
		name        string
		in, want    *corev1.Pod
		wantApplied []string
		optedOut    bool
	}{
		{name: "plain pod gets every default and the annotation",
			in: base, want: tweak(base, hardened, annotated(fourRules)),
			wantApplied: strings.Split(fourRules, ",")},
		{name: "read-only root adds tmp-emptydir to the annotation",
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)})),
			want: tweak(newPod(withSC(ctr("app"), &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)})), hardened, func(p *corev1.Pod) {
				p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "tmp-app", MountPath: "/tmp"}}
				p.Spec.Volumes = []corev1.Volume{{Name: "tmp-app", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			}, annotated(fourRules+",tmp-emptydir")),
			wantApplied: strings.Split(fourRules+",tmp-emptydir", ",")},
		{name: "already hardened: nothing, no annotation",
			in: tweak(base, hardened), want: tweak(base, hardened)},
		{name: "opted out: untouched",
			in:       tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: "disabled"} }),
			want:     tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: "disabled"} }),
			optedOut: true},
		{name: "opt-out value is case-insensitive",
			in:       tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: " Disabled"} }),
			want:     tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: " Disabled"} }),
			optedOut: true},
		{name: "other inject value is not an opt-out",
			in: tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: "enabled"} }),
			want: tweak(base, func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: "enabled"} },
				hardened, annotated(fourRules)),
			wantApplied: strings.Split(fourRules, ",")},
		{name: "earlier annotation is merged, not replaced",
			in:          tweak(base, func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(true) }, annotated("run-as-non-root")),
			want:        tweak(base, hardened, annotated(fourRules)),
			wantApplied: []string{"drop-all-capabilities", "no-privilege-escalation", "seccomp-runtime-default"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, res := checkPass(t, tc.in, nil)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("pod (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantApplied, res.Applied); d != "" {
				t.Errorf("Applied (-want +got):\n%s", d)
			}
			if res.OptedOut != tc.optedOut {
				t.Errorf("OptedOut = %v, want %v", res.OptedOut, tc.optedOut)
			}
		})
	}
}

func TestApplyEphemeralTouchesOnlyNewContainers(t *testing.T) {
	running := newPod(ctr("app"))
	running.Spec.EphemeralContainers = []corev1.EphemeralContainer{ephemeral(ctr("old"))}
	updated := running.DeepCopy()
	updated.Spec.EphemeralContainers = append(updated.Spec.EphemeralContainers, ephemeral(ctr("debugger")))
	got, res := checkPass(t, updated, running.Spec.EphemeralContainers)
	want := updated.DeepCopy()
	want.Spec.EphemeralContainers[1].SecurityContext = &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           runtimeDefault(),
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("pod (-want +got):\n%s", d)
	}
	if d := cmp.Diff(strings.Split(fourRules, ","), res.Applied); d != "" {
		t.Errorf("Applied (-want +got):\n%s", d)
	}
}

// TestRestrictedOracle checks the product's promise with the Pod Security
// admission library itself: a pod that makes no explicitly insecure choice
// passes the "restricted" level once the rules ran, and fails it before.
func TestRestrictedOracle(t *testing.T) {
	ro := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)}
	pods := map[string]*corev1.Pod{
		"plain":            newPod(ctr("app")),
		"two containers":   newPod(ctr("app"), ctr("metrics")),
		"read-only root":   newPod(withSC(ctr("app"), ro)),
		"net bind service": newPod(withSC(ctr("app"), caps([]corev1.Capability{"NET_BIND_SERVICE"}, nil))),
		"user drops some":  newPod(withSC(ctr("app"), caps(nil, []corev1.Capability{"NET_RAW"}))),
		"non-root uid":     tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).RunAsUser = ptr(int64(1000)) }),
		"windows":          tweak(newPod(ctr("app")), windowsPod),
		"init and sidecar": tweak(newPod(ctr("app")), func(p *corev1.Pod) {
			p.Spec.InitContainers = []corev1.Container{ctr("migrate"), sidecar(withSC(ctr("proxy"), ro))}
		}),
		"seccomp annotation": tweak(newPod(ctr("app")), annotate(corev1.SeccompPodAnnotationKey, "runtime/default")),
		"container seccomp annotation": tweak(newPod(ctr("app"), ctr("metrics")),
			annotate(corev1.SeccompContainerAnnotationKeyPrefix+"app", "localhost/app.json")),
		"user namespace":          tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.HostUsers = ptr(false) }),
		"container-level seccomp": newPod(withSC(ctr("app"), &corev1.SecurityContext{SeccompProfile: runtimeDefault()})),
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	failures := func(p *corev1.Pod) []string {
		var out []string
		for _, r := range evaluator.EvaluatePod(restricted, &p.ObjectMeta, &p.Spec) {
			if !r.Allowed {
				out = append(out, r.ForbiddenReason+": "+r.ForbiddenDetail)
			}
		}
		return out
	}
	// The optional rules, all on, must keep every pod passing.
	allOn := Options{Rules: map[string]bool{}}
	for _, r := range Rules() {
		allOn.Rules[r.ID] = true
	}
	for name, pod := range pods {
		for optsName, opts := range map[string]Options{"shipped": {}, "optional rules on": allOn} {
			t.Run(name+"/"+optsName, func(t *testing.T) {
				if len(failures(pod)) == 0 {
					t.Fatalf("fixture already passes restricted before defaulting: it tests nothing")
				}
				out, _ := checkPassWith(t, pod, nil, opts)
				if f := failures(out); len(f) > 0 {
					t.Errorf("defaulted pod fails restricted: %q", f)
				}
			})
		}
	}
}

func TestApplyOptions(t *testing.T) {
	base := newPod(ctr("app"))
	optOut := func(p *corev1.Pod) { p.Annotations = map[string]string{InjectKey: "disabled"} }
	cases := []struct {
		name         string
		opts         Options
		in, want     *corev1.Pod
		wantApplied  []string
		optedOut     bool
		wantWarnings int
	}{
		{name: "a rule turned off does not run",
			opts: Options{Rules: map[string]bool{"seccomp-runtime-default": false, "drop-all-capabilities": false}},
			in:   base,
			want: tweak(base, func(p *corev1.Pod) {
				podSC(p).RunAsNonRoot = ptr(true)
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false)}
			}, annotated("no-privilege-escalation,run-as-non-root")),
			wantApplied: []string{"no-privilege-escalation", "run-as-non-root"}},
		{name: "every rule off: nothing",
			opts: Options{Rules: map[string]bool{"run-as-non-root": false, "seccomp-runtime-default": false, "drop-all-capabilities": false, "no-privilege-escalation": false}},
			in:   base, want: base},
		{name: "a rule listed as on stays on",
			opts: Options{Rules: map[string]bool{"run-as-non-root": true}},
			in:   base, want: tweak(base, hardened, annotated(fourRules)),
			wantApplied: strings.Split(fourRules, ",")},
		{name: "opt-out honoured by default",
			in: tweak(base, optOut), want: tweak(base, optOut), optedOut: true},
		{name: "opt-out ignored when pods may not opt out, with a warning",
			opts: Options{IgnorePodOptOut: true},
			in:   tweak(base, optOut), want: tweak(base, optOut, hardened, annotated(fourRules)),
			wantApplied: strings.Split(fourRules, ","), wantWarnings: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, res := checkPassWith(t, tc.in, nil, tc.opts)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("pod (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.wantApplied, res.Applied); d != "" {
				t.Errorf("Applied (-want +got):\n%s", d)
			}
			if res.OptedOut != tc.optedOut {
				t.Errorf("OptedOut = %v, want %v", res.OptedOut, tc.optedOut)
			}
			if len(res.Warnings) != tc.wantWarnings {
				t.Errorf("warnings %q, want %d", res.Warnings, tc.wantWarnings)
			}
		})
	}
	if (Options{}).Enabled("no-such-rule") {
		t.Error("Enabled reports an unknown rule ID as on")
	}
}

// TestDefaultedAnnotationNeverExceedsLimit: the record of what was done must
// not push a valid pod's annotations over the API server's total size limit.
func TestDefaultedAnnotationNeverExceedsLimit(t *testing.T) {
	// fill returns a tweak that adds one annotation making the total size
	// (keys and values, as the API server counts) exactly limit-room bytes.
	fill := func(room int) func(*corev1.Pod) {
		return func(p *corev1.Pod) {
			used := 0
			for k, v := range p.Annotations {
				used += len(k) + len(v)
			}
			const key = "example.com/blob"
			annotate(key, strings.Repeat("x", apivalidation.TotalAnnotationSizeLimitB-room-used-len(key)))(p)
		}
	}
	base := newPod(ctr("app"))
	fits := len(DefaultedAnnotation) + len(fourRules)
	cases := []struct {
		name         string
		in           *corev1.Pod
		wantRecorded string
		wantWarning  bool
	}{
		{name: "exactly enough room", in: tweak(base, fill(fits)), wantRecorded: fourRules},
		{name: "one byte short: left out, warn", in: tweak(base, fill(fits-1)), wantWarning: true},
		{name: "no room at all: left out, warn", in: tweak(base, fill(0)), wantWarning: true},
		{name: "an earlier record that cannot grow is kept as it was, warn",
			in:           tweak(base, func(p *corev1.Pod) { podSC(p).RunAsNonRoot = ptr(true) }, annotated("run-as-non-root"), fill(0)),
			wantRecorded: "run-as-non-root", wantWarning: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := apivalidation.ValidateAnnotationsSize(tc.in.Annotations); err != nil {
				t.Fatalf("fixture is invalid before: %v", err)
			}
			out, res := checkPass(t, tc.in, nil)
			if got := out.Annotations[DefaultedAnnotation]; got != tc.wantRecorded {
				t.Errorf("%s = %q, want %q", DefaultedAnnotation, got, tc.wantRecorded)
			}
			if err := apivalidation.ValidateAnnotationsSize(out.Annotations); err != nil {
				t.Errorf("after: %v", err)
			}
			if got := countContaining(res.Warnings, DefaultedAnnotation+" was not recorded"); got != map[bool]int{true: 1}[tc.wantWarning] {
				t.Errorf("warnings = %q, want the size warning: %v", res.Warnings, tc.wantWarning)
			}
			if !res.Changed() {
				t.Errorf("the rules' fields must still be set")
			}
		})
	}
}
