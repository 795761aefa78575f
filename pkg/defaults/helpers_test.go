package defaults

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/secure-defaults/secure-defaults/internal/jsontree"
	"github.com/secure-defaults/secure-defaults/pkg/patch"
)

// Case tags: every rule must have at least one case with each of these (see
// TestEveryRuleIsTested).
const (
	tagUnset     = "unset"
	tagSet       = "already-set"
	tagOtherWay  = "other-way"
	tagInit      = "init"
	tagSidecar   = "sidecar"
	tagEphemeral = "ephemeral"
	tagWindows   = "windows"
)

var requiredTags = []string{tagUnset, tagSet, tagOtherWay, tagInit, tagSidecar, tagEphemeral, tagWindows}

// ruleCase is one table entry of a rule's test: the pod in, the pod the rule
// alone must turn it into, and for ephemeral cases the ephemeral containers
// the running pod had before the update.
type ruleCase struct {
	name string
	tags []string
	in   *corev1.Pod
	want *corev1.Pod // nil: the rule must leave the pod unchanged
	// existing, when non-nil, runs the rule as for the ephemeralcontainers
	// subresource with these as the old ephemeral containers.
	existing     []corev1.EphemeralContainer
	wantWarnings int
	// opts are the options of the pass; the zero value is the shipped
	// defaults. Optional rules' cases turn their rule on here.
	opts Options
}

// ruleCases collects every rule's table, keyed by rule ID, for the registry test.
var ruleCases = map[string][]ruleCase{}

func registerCases(id string, cases []ruleCase) []ruleCase {
	ruleCases[id] = cases
	return cases
}

// runRuleCases runs one rule's table: the rule alone, then the whole registry
// through the public API for the patch and idempotence invariants.
func runRuleCases(t *testing.T, r Rule, cases []ruleCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.in.DeepCopy()
			opts := tc.opts
			opts.Facts = withRunAsUser(got, opts) // as Apply does
			var s *scope
			if tc.existing != nil {
				s = newScope(got, names(tc.existing), opts.Facts)
			} else {
				s = newScope(got, nil, opts.Facts)
			}
			s.opts = opts
			s.exclude(readOptOuts(got.Annotations, s, opts).containers)
			changed, warnings := r.apply(got, s)
			want := tc.want
			if want == nil {
				want = tc.in
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("rule %s: pod mismatch (-want +got):\n%s", r.ID, d)
			}
			if changed != (tc.want != nil) {
				t.Errorf("rule %s: changed = %v, want %v", r.ID, changed, tc.want != nil)
			}
			checkWrites(t, r, tc.in, got)
			if len(warnings) != tc.wantWarnings {
				t.Errorf("rule %s: warnings = %q, want %d", r.ID, warnings, tc.wantWarnings)
			}
			checkPassWith(t, tc.in, tc.existing, tc.opts)
		})
	}
}

// checkWrites fails for every field the rule changed between in and out
// that its Writes does not declare, naming the field: pkg/patch snapshots
// only the declared ones, so an undeclared write would be lost from the patch.
func checkWrites(t *testing.T, r Rule, in, out *corev1.Pod) {
	t.Helper()
	decode := func(p *corev1.Pod) any {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		v, err := jsontree.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	index := regexp.MustCompile(`/[0-9]+(/|$)`)
	for _, p := range jsontree.Changed(decode(in), decode(out)) {
		pattern := index.ReplaceAllString(index.ReplaceAllString(p, "/*$1"), "/*$1")
		if !declares(r.Writes, pattern) {
			t.Errorf("rule %s changed %s, which its Writes does not declare (%q): add it there, and check that pkg/patch.Subtrees holds it", r.ID, pattern, r.Writes)
		}
	}
}

// declares reports whether the pointer p lies at or below one of writes, or
// is a parent one of them needed (an object created to hold the field).
func declares(writes []string, p string) bool {
	for _, w := range writes {
		if p == w || strings.HasPrefix(p, w+"/") || strings.HasPrefix(w, p+"/") {
			return true
		}
	}
	return false
}

func names(cs []corev1.EphemeralContainer) map[string]bool {
	m := map[string]bool{}
	for _, c := range cs {
		m[c.Name] = true
	}
	return m
}

// checkPass runs every rule on in through the public API and checks the
// invariants that hold for every pod: the patch applied to the original JSON
// gives the mutated pod, nothing the user set changed, arrays only grew at
// the end, the result is valid in the ways the API server checks, and a
// second pass changes nothing. It returns the mutated pod and result.
func checkPass(t *testing.T, in *corev1.Pod, existing []corev1.EphemeralContainer) (*corev1.Pod, Result) {
	t.Helper()
	return checkPassWith(t, in, existing, Options{})
}

// checkPassWith is checkPass under opts.
func checkPassWith(t *testing.T, in *corev1.Pod, existing []corev1.EphemeralContainer, opts Options) (*corev1.Pod, Result) {
	t.Helper()
	run := func(p *corev1.Pod) Result {
		if existing != nil {
			return ApplyEphemeral(p, existing, opts)
		}
		return Apply(p, opts)
	}
	writeFixture(t, in, existing)
	out := in.DeepCopy()
	res := run(out)
	if !sort.StringsAreSorted(res.Applied) {
		t.Errorf("Applied not sorted: %q", res.Applied)
	}
	if got := out.Annotations[DefaultedAnnotation]; existing == nil && res.Changed() && got == "" && !annotationsNearLimit(in) {
		t.Errorf("pod changed but %s not set", DefaultedAnnotation)
	}
	if err := apivalidation.ValidateAnnotationsSize(in.Annotations); err == nil {
		if err := apivalidation.ValidateAnnotationsSize(out.Annotations); err != nil {
			t.Errorf("the rules pushed the annotations over the API server's limit: %v", err)
		}
	}
	p, err := patch.Create(in, out)
	if err != nil {
		t.Fatalf("patch.Create: %v", err)
	}
	if (p != nil) != res.Changed() {
		t.Fatalf("patch present = %v but Result.Changed() = %v (applied %q)", p != nil, res.Changed(), res.Applied)
	}
	rawIn, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	rawOut := rawIn
	if p != nil {
		ops, err := jsonpatch.DecodePatch(p)
		if err != nil {
			t.Fatalf("decoding patch %s: %v", p, err)
		}
		rawOut, err = ops.Apply(rawIn)
		if err != nil {
			t.Fatalf("applying patch %s: %v", p, err)
		}
	}
	var patched corev1.Pod
	if err := json.Unmarshal(rawOut, &patched); err != nil {
		t.Fatalf("decoding patched pod: %v", err)
	}
	if d := cmp.Diff(out, &patched); d != "" {
		t.Fatalf("patch %s does not reproduce the mutated pod (-mutated +patched):\n%s", p, d)
	}
	wantOut, _ := json.Marshal(out)
	if err := checkOnlyAdded(rawIn, wantOut); err != nil {
		t.Errorf("user value changed: %v", err)
	}
	checkValid(t, in, out)
	again := out.DeepCopy()
	if res2 := run(again); res2.Changed() {
		t.Errorf("second pass changed the pod again: applied %q", res2.Applied)
	}
	if d := cmp.Diff(out, again); d != "" {
		t.Errorf("second pass is not a no-op (-first +second):\n%s", d)
	}
	return out, res
}

// annotationsNearLimit reports whether in's annotations leave too little room
// under the API server's limit for the defaulted annotation.
func annotationsNearLimit(in *corev1.Pod) bool {
	n := len(DefaultedAnnotation) + len(strings.Join(RuleIDs(), ","))
	for k, v := range in.Annotations {
		if k != DefaultedAnnotation {
			n += len(k) + len(v)
		}
	}
	return n > apivalidation.TotalAnnotationSizeLimitB
}

// fixturesOut names the directory where checkPass writes every pod it checks,
// for the API server's validation in hack/validation (make validation).
const fixturesOut = "SECURE_DEFAULTS_FIXTURES_OUT"

// writeFixture writes in (and existing, for an ephemeral-container update)
// into $SECURE_DEFAULTS_FIXTURES_OUT, named by its content, when that is set.
func writeFixture(t *testing.T, in *corev1.Pod, existing []corev1.EphemeralContainer) {
	t.Helper()
	dir := os.Getenv(fixturesOut)
	if dir == "" {
		return
	}
	raw, err := json.Marshal(struct {
		Pod      *corev1.Pod                 `json:"pod"`
		Existing []corev1.EphemeralContainer `json:"existing"`
	}{in, existing})
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("%x.json", sha256.Sum256(raw))
	if err := os.WriteFile(filepath.Join(dir, name), raw, 0o644); err != nil {
		t.Fatalf("writing fixture: %v", err)
	}
}

// checkOnlyAdded verifies that every value in before is present and equal in
// after, and that arrays only grew at the end; the rules' own record of what
// they did (the defaulted annotation) may grow on a later pass.
func checkOnlyAdded(before, after []byte) error {
	a, err := jsontree.Decode(before)
	if err != nil {
		return err
	}
	b, err := jsontree.Decode(after)
	if err != nil {
		return err
	}
	ownRecord := func(path string) bool { return path == "/metadata/annotations/"+DefaultedAnnotation }
	if lost := jsontree.Lost(a, b, ownRecord); len(lost) > 0 {
		return errors.New(strings.Join(lost, "; "))
	}
	return nil
}

// checkValid asserts the parts of API server validation the rules could
// break: allowPrivilegeEscalation: false next to privileged or CAP_SYS_ADMIN
// where the rules set it, and volume names (Windows pods: checkWindowsUntouched).
func checkValid(t *testing.T, before, pod *corev1.Pod) {
	t.Helper()
	userSetAPE := map[string]bool{}
	for _, c := range allContainers(before) {
		if sc := c.get(); sc != nil && sc.AllowPrivilegeEscalation != nil {
			userSetAPE[c.name] = true
		}
	}
	for _, c := range allContainers(pod) {
		sc := c.get()
		if sc == nil {
			continue
		}
		if isFalse(sc.AllowPrivilegeEscalation) && !userSetAPE[c.name] {
			if isTrue(sc.Privileged) {
				t.Errorf("%s: allowPrivilegeEscalation false with privileged", c.name)
			}
			if sc.Capabilities != nil {
				for _, a := range sc.Capabilities.Add {
					if a == "CAP_SYS_ADMIN" {
						t.Errorf("%s: allowPrivilegeEscalation false with CAP_SYS_ADMIN", c.name)
					}
				}
			}
		}
	}
	// A seccomp field the rules set must say what the deprecated annotation
	// for the same pod or container says, as the API server compares them.
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil && (before.Spec.SecurityContext == nil || before.Spec.SecurityContext.SeccompProfile == nil) {
		if v, ok := pod.Annotations[corev1.SeccompPodAnnotationKey]; ok && !seccompMatches(v, sc.SeccompProfile) {
			t.Errorf("pod seccompProfile %v set next to the annotation %q", sc.SeccompProfile, v)
		}
	}
	userSetSeccomp := map[string]bool{}
	for _, c := range allContainers(before) {
		if sc := c.get(); sc != nil && sc.SeccompProfile != nil {
			userSetSeccomp[c.name] = true
		}
	}
	for _, c := range allContainers(pod) {
		if sc := c.get(); sc != nil && sc.SeccompProfile != nil && !userSetSeccomp[c.name] {
			if v, ok := pod.Annotations[corev1.SeccompContainerAnnotationKeyPrefix+c.name]; ok && !seccompMatches(v, sc.SeccompProfile) {
				t.Errorf("%s: seccompProfile %v set next to the annotation %q", c.name, sc.SeccompProfile, v)
			}
		}
	}
	seen := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		if errs := validation.IsDNS1123Label(v.Name); len(errs) > 0 {
			t.Errorf("volume name %q invalid: %s", v.Name, strings.Join(errs, "; "))
		}
		if seen[v.Name] {
			t.Errorf("volume name %q not unique", v.Name)
		}
		seen[v.Name] = true
	}
}

// seccompMatches is the API server's test of an annotation against a field
// (validateSeccompAnnotationsAndFieldsMatch), written out independently of
// the rule's own translation.
func seccompMatches(annotation string, f *corev1.SeccompProfile) bool {
	switch f.Type {
	case corev1.SeccompProfileTypeUnconfined:
		return annotation == "unconfined"
	case corev1.SeccompProfileTypeRuntimeDefault:
		return annotation == "runtime/default" || annotation == "docker/default"
	case corev1.SeccompProfileTypeLocalhost:
		return strings.HasPrefix(annotation, "localhost/") && f.LocalhostProfile != nil &&
			strings.TrimPrefix(annotation, "localhost/") == *f.LocalhostProfile
	}
	return true
}

// Fixture helpers.

func newPod(cs ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metaPod,
		ObjectMeta: objMeta("app"),
		Spec:       corev1.PodSpec{Containers: cs},
	}
}

func ctr(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "registry.example/" + name + ":1.0"}
}

func tweak(p *corev1.Pod, fns ...func(*corev1.Pod)) *corev1.Pod {
	out := p.DeepCopy()
	for _, fn := range fns {
		fn(out)
	}
	return out
}

// withSC returns a container tweak that sets its security context.
func withSC(c corev1.Container, sc *corev1.SecurityContext) corev1.Container {
	c.SecurityContext = sc
	return c
}

func windowsPod(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} }

// windowsByAffinity pins p to Windows nodes with a required node-affinity
// term, as pods written before spec.os did.
func windowsByAffinity(p *corev1.Pod) {
	p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpIn, Values: []string{"amd64"}},
				{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"windows"}},
			},
		}}},
	}}
}

// annotate returns a pod tweak that sets annotation k to v.
func annotate(k, v string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[k] = v
	}
}

func podSC(p *corev1.Pod) *corev1.PodSecurityContext {
	if p.Spec.SecurityContext == nil {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	return p.Spec.SecurityContext
}

// sidecar returns c as a native sidecar (an init container that keeps running).
func sidecar(c corev1.Container) corev1.Container {
	c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	return c
}

func ephemeral(c corev1.Container) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: c.Name, Image: c.Image, SecurityContext: c.SecurityContext, VolumeMounts: c.VolumeMounts,
	}, TargetContainerName: "app"}
}

var metaPod = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}

func objMeta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "team-a", Labels: map[string]string{"app": name}}
}

// runningPod is a pod as it runs, with one ephemeral container added earlier.
func runningPod() *corev1.Pod {
	p := newPod(ctr("app"))
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{ephemeral(ctr("old-debugger"))}
	return p
}

// withDebugger adds a new ephemeral container "debugger" with security context sc.
func withDebugger(sc *corev1.SecurityContext) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ephemeral(withSC(ctr("debugger"), sc)))
	}
}
