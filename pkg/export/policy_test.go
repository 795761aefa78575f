package export

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// goldenPath is the shipped policy: what `make generate` writes.
var goldenPath = filepath.Join("..", "..", "deploy", "policy", "mutating-admission-policy.yaml")

// TestGolden fails when the shipped policy is not what the rules generate
// today; UPDATE_GOLDEN=1 (make generate) rewrites it.
func TestGolden(t *testing.T) {
	p, err := Build(config.Default(), "")
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := Write(&got, p); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.WriteFile(goldenPath, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run make generate)", err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("%s is stale: run make generate and review the diff", goldenPath)
	}
}

// decode splits the output of Write and decodes both documents strictly as
// admissionregistration.k8s.io/v1 objects.
func decode(t *testing.T, out []byte) (*admissionregistrationv1.MutatingAdmissionPolicy, *admissionregistrationv1.MutatingAdmissionPolicyBinding) {
	t.Helper()
	docs := strings.Split(string(out), "\n---\n")
	if len(docs) != 3 {
		t.Fatalf("got %d parts, want a comment and two documents", len(docs))
	}
	if !strings.HasPrefix(docs[0], "# ") {
		t.Errorf("output does not start with the comment")
	}
	p := &admissionregistrationv1.MutatingAdmissionPolicy{}
	if err := yaml.UnmarshalStrict([]byte(docs[1]), p); err != nil {
		t.Fatalf("policy: %v", err)
	}
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{}
	if err := yaml.UnmarshalStrict([]byte(docs[2]), b); err != nil {
		t.Fatalf("binding: %v", err)
	}
	for _, tm := range []struct{ api, kind, wantKind string }{
		{p.APIVersion, p.Kind, "MutatingAdmissionPolicy"},
		{b.APIVersion, b.Kind, "MutatingAdmissionPolicyBinding"},
	} {
		if tm.api != "admissionregistration.k8s.io/v1" || tm.kind != tm.wantKind {
			t.Errorf("got %s %s, want admissionregistration.k8s.io/v1 %s", tm.api, tm.kind, tm.wantKind)
		}
	}
	return p, b
}

func TestShippedPolicyDecodesAsV1(t *testing.T) {
	out, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	p, b := decode(t, out)
	if p.Spec.ReinvocationPolicy != admissionregistrationv1.IfNeededReinvocationPolicy {
		t.Errorf("reinvocationPolicy %q, want IfNeeded", p.Spec.ReinvocationPolicy)
	}
	if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionregistrationv1.Fail {
		t.Errorf("failurePolicy %v, want Fail", p.Spec.FailurePolicy)
	}
	if len(p.Spec.Mutations) != 1 || p.Spec.Mutations[0].PatchType != admissionregistrationv1.PatchTypeJSONPatch || p.Spec.Mutations[0].JSONPatch == nil {
		t.Fatalf("mutations %+v, want one JSONPatch", p.Spec.Mutations)
	}
	rr := p.Spec.MatchConstraints.ResourceRules
	if len(rr) != 1 || !slices.Equal(rr[0].Resources, []string{"pods"}) || !slices.Equal(rr[0].Operations, []admissionregistrationv1.OperationType{admissionregistrationv1.Create}) {
		t.Errorf("matchConstraints %+v, want pods CREATE", rr)
	}
	if b.Spec.PolicyName != p.Name {
		t.Errorf("binding names policy %q, the policy is %q", b.Spec.PolicyName, p.Name)
	}
	sel := b.Spec.MatchResources.NamespaceSelector
	if sel == nil || sel.MatchLabels[defaults.InjectKey] != defaults.InjectEnabled || len(sel.MatchLabels) != 1 {
		t.Fatalf("binding namespaceSelector %+v, want %s=%s", sel, defaults.InjectKey, defaults.InjectEnabled)
	}
	// Like the webhook, never kube-system or kube-node-lease, however
	// they are labelled.
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	for ns, want := range map[string]bool{"team-a": true, "kube-system": false, "kube-node-lease": false, "default": true} {
		labels := k8slabels.Set{defaults.InjectKey: defaults.InjectEnabled, corev1.LabelMetadataName: ns}
		if got := selector.Matches(labels); got != want {
			t.Errorf("binding selects opted-in namespace %s: %v, want %v", ns, got, want)
		}
	}
	if selector.Matches(k8slabels.Set{defaults.InjectKey: "audit", corev1.LabelMetadataName: "team-a"}) {
		t.Errorf("binding selects an audit namespace")
	}
	for _, d := range Differences {
		if !strings.Contains(string(out), strings.Fields(d.Text)[0]) {
			t.Errorf("difference %s missing from the comment", d.ID)
		}
	}
	if len(p.Spec.MatchConditions) != 1 || !strings.Contains(p.Spec.MatchConditions[0].Expression, defaults.InjectKey) {
		t.Errorf("matchConditions %+v, want the opt-out annotation", p.Spec.MatchConditions)
	}
	checkBalanced(t, p)
}

// checkBalanced catches a broken template: every CEL expression has balanced
// brackets outside string literals, and names only variables defined before
// it. Whether the CEL compiles is checked by the API server in the e2e test.
func checkBalanced(t *testing.T, p *admissionregistrationv1.MutatingAdmissionPolicy) {
	t.Helper()
	defined := map[string]bool{}
	ref := regexp.MustCompile(`variables\.([A-Za-z0-9]+)`)
	check := func(name, expr string) {
		depth := 0
		var quote rune
		for _, r := range expr {
			switch {
			case quote != 0:
				if r == quote {
					quote = 0
				}
			case r == '\'' || r == '"':
				quote = r
			case strings.ContainsRune("([{", r):
				depth++
			case strings.ContainsRune(")]}", r):
				depth--
			}
			if depth < 0 {
				break
			}
		}
		if depth != 0 || quote != 0 {
			t.Errorf("%s: unbalanced brackets or quotes: %s", name, expr)
		}
		for _, m := range ref.FindAllStringSubmatch(expr, -1) {
			if !defined[m[1]] {
				t.Errorf("%s uses variables.%s before it is defined", name, m[1])
			}
		}
	}
	for _, v := range p.Spec.Variables {
		check("variable "+v.Name, v.Expression)
		defined[v.Name] = true
	}
	check("mutation", p.Spec.Mutations[0].JSONPatch.Expression)
}

// TestEveryRuleHasCEL makes a new rule fail here until it has a CEL form
// (and the e2e test compares it with the webhook).
func TestEveryRuleHasCEL(t *testing.T) {
	for _, r := range defaults.Rules() {
		_, ok := celRules[r.ID]
		if _, configured := configuredRules[r.ID]; configured {
			ok = true
		}
		_, not := notInCEL[r.ID]
		switch {
		case ok && not:
			t.Errorf("rule %s is in both celRules and notInCEL", r.ID)
		case !ok && !not:
			t.Errorf("rule %s has no CEL form in celRules, nor a reason in notInCEL", r.ID)
		case not && !r.Optional:
			t.Errorf("rule %s is on by default but not in the policy: the shipped policy would do less than the webhook", r.ID)
		case not:
			c, err := config.Decode([]byte("apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\nrules:\n  " + r.ID + ": {enabled: true}\n"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Build(c, ""); err == nil || !strings.Contains(err.Error(), r.ID) {
				t.Errorf("%s switched on: error %v, want one naming it", r.ID, err)
			}
		}
	}
	for id := range notInCEL {
		if !slices.Contains(defaults.RuleIDs(), id) {
			t.Errorf("notInCEL has %s, which is not a rule", id)
		}
	}
	for id := range configuredRules {
		if _, dup := celRules[id]; dup || !slices.Contains(defaults.RuleIDs(), id) {
			t.Errorf("configuredRules has %s, which is not a rule or is in celRules too", id)
		}
	}
	for id := range celRules {
		if !slices.Contains(defaults.RuleIDs(), id) {
			t.Errorf("celRules has %s, which is not a rule", id)
		}
	}
}

func TestConfiguration(t *testing.T) {
	load := func(t *testing.T, text string) *config.Configuration {
		t.Helper()
		c, err := config.Decode([]byte("apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\n" + text))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	build := func(t *testing.T, c *config.Configuration) *admissionregistrationv1.MutatingAdmissionPolicy {
		t.Helper()
		p, err := Build(c, "")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Write(&out, p); err != nil {
			t.Fatal(err)
		}
		pol, _ := decode(t, out.Bytes())
		checkBalanced(t, pol)
		return pol
	}
	t.Run("rules switched off are left out", func(t *testing.T) {
		p := build(t, load(t, "rules:\n  drop-all-capabilities: {enabled: false}\n  tmp-emptydir: {enabled: false}\n"))
		expr := p.Spec.Mutations[0].JSONPatch.Expression
		for _, gone := range []string{"drop-all-capabilities", "tmp-emptydir", "capabilities/drop", "/spec/volumes"} {
			if strings.Contains(expr, gone) || strings.Contains(variable0(p, "applied"), gone) {
				t.Errorf("%q still in the policy", gone)
			}
		}
		for _, kept := range []string{"run-as-non-root", "seccomp-runtime-default", "no-privilege-escalation"} {
			if !strings.Contains(variable0(p, "applied"), kept) {
				t.Errorf("%q missing from the policy", kept)
			}
		}
	})
	t.Run("tmp-emptydir reads what read-only-root-filesystem sets", func(t *testing.T) {
		if v := variable0(build(t, config.Default()), "ctrTmp"); strings.Contains(v, "Rofs") {
			t.Errorf("read-only-root-filesystem is off, ctrTmp reads it: %s", v)
		}
		p := build(t, load(t, "rules:\n  read-only-root-filesystem: {enabled: true}\n"))
		if v := variable0(p, "ctrTmp"); !strings.Contains(v, "variables.ctrRofs[i]") {
			t.Errorf("ctrTmp does not read ctrRofs: %s", v)
		}
		if !strings.Contains(variable0(p, "applied"), "read-only-root-filesystem") {
			t.Errorf("read-only-root-filesystem missing from applied")
		}
	})
	t.Run("every rule off is an error", func(t *testing.T) {
		c := load(t, "rules:\n  run-as-non-root: {enabled: false}\n  drop-all-capabilities: {enabled: false}\n  seccomp-runtime-default: {enabled: false}\n  no-privilege-escalation: {enabled: false}\n  tmp-emptydir: {enabled: false}\n")
		if _, err := Build(c, ""); err == nil {
			t.Error("no error")
		}
	})
	t.Run("allowPodOptOut false ignores the opt-out annotations", func(t *testing.T) {
		p := build(t, load(t, "allowPodOptOut: false\n"))
		if len(p.Spec.MatchConditions) != 0 {
			t.Errorf("matchConditions %+v, want none", p.Spec.MatchConditions)
		}
		for _, v := range p.Spec.Variables {
			if strings.Contains(v.Expression, "skip-") {
				t.Errorf("variable %s reads a skip annotation: %s", v.Name, v.Expression)
			}
		}
	})
	t.Run("exclusion patterns", func(t *testing.T) {
		p := build(t, load(t, "excludeContainers: [\"istio-*\"]\nexcludeImages: [\"registry.example/legacy/*\", \"a?c\"]\n"))
		if s := variable0(p, "ctrSkipped"); !strings.Contains(s, `c.name.matches("(?s)^(?:istio-.*)$")`) ||
			!strings.Contains(s, `c.?image.orValue('').matches("(?s)^(?:registry\\.example/legacy/.*|a.c)$")`) {
			t.Errorf("ctrSkipped = %s", s)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		if _, err := Build(config.Default(), "Not_A_Name"); err == nil {
			t.Error("no error")
		}
	})
}

func variable0(p *admissionregistrationv1.MutatingAdmissionPolicy, name string) string {
	for _, v := range p.Spec.Variables {
		if v.Name == name {
			return v.Expression
		}
	}
	return ""
}

// TestGlobRegexp checks the CEL form of exclusion patterns against what
// they mean in pkg/defaults: "*" any run of bytes, "/" included, "?" one,
// everything else itself, the whole string.
func TestGlobRegexp(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		s        string
		want     bool
	}{
		{[]string{"istio-*"}, "istio-proxy", true},
		{[]string{"istio-*"}, "my-istio-proxy", false},
		{[]string{"registry.example/legacy/*"}, "registry.example/legacy/a/b:1", true},
		{[]string{"registry.example/legacy/*"}, "registryXexample/legacy/a", false},
		{[]string{"a?c"}, "abc", true},
		{[]string{"a?c"}, "ac", false},
		{[]string{"a+b", "x"}, "a+b", true},
		{[]string{"a+b", "x"}, "aab", false},
		{[]string{"(a|b)"}, "a", false},
		{[]string{"*"}, "", true},
	} {
		re := regexp.MustCompile(globRegexp(tc.patterns))
		if got := re.MatchString(tc.s); got != tc.want {
			t.Errorf("%q against %q: %v, want %v", tc.patterns, tc.s, got, tc.want)
		}
	}
}

// TestTmpMountRegexp checks the CEL test for "mounts something at /tmp"
// against path.Clean, which the Go rule uses, for paths without "..".
func TestTmpMountRegexp(t *testing.T) {
	re := regexp.MustCompile(tmpMountRegexp)
	for _, p := range []string{"/tmp", "/tmp/", "//tmp", "/./tmp", "/tmp/.", "/tmp/./", "/.//tmp//", "tmp", "/tmpx", "/tmp/x", "/x/tmp", "/.tmp", "", "/", "/tm"} {
		if got, want := re.MatchString(p), p != "" && path.Clean(p) == "/tmp"; got != want {
			t.Errorf("%q: %v, want %v", p, got, want)
		}
	}
	re = regexp.MustCompile(cleanPathRegexp(serviceAccountTokenPath))
	for _, p := range []string{serviceAccountTokenPath, serviceAccountTokenPath + "/", "/var//run/./secrets/kubernetes.io/serviceaccount/.", "/var/run/secrets/kubernetesXio/serviceaccount", "/var/run/secrets/kubernetes.io/serviceaccount/token", "var/run/secrets/kubernetes.io/serviceaccount"} {
		if got, want := re.MatchString(p), path.Clean(p) == serviceAccountTokenPath; got != want {
			t.Errorf("%q: %v, want %v", p, got, want)
		}
	}
}
