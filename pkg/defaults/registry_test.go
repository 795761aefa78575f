package defaults

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/secure-defaults/secure-defaults/internal/refdoc"
)

func TestRegistryInvariants(t *testing.T) {
	idPattern := regexp.MustCompile(`^[a-z][a-z0-9-]*[a-z0-9]$`)
	seen := map[string]bool{}
	for _, r := range Rules() {
		if !idPattern.MatchString(r.ID) {
			t.Errorf("rule ID %q is not a lower-case dashed name", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("duplicate rule ID %q", r.ID)
		}
		seen[r.ID] = true
		if r.Summary == "" || r.apply == nil {
			t.Errorf("rule %q: missing summary or apply", r.ID)
		}
		if len(r.Writes) == 0 {
			t.Errorf("rule %q declares no Writes", r.ID)
		}
		for _, w := range r.Writes {
			if !strings.HasPrefix(w, "/") || strings.HasSuffix(w, "/") {
				t.Errorf("rule %q: Writes entry %q is not a JSON pointer", r.ID, w)
			}
		}
	}
	// Rule IDs are a contract (docs/reference.md, "Rules"): none may go.
	for _, id := range []string{"run-as-non-root", "drop-all-capabilities", "seccomp-runtime-default", "no-privilege-escalation", "tmp-emptydir"} {
		if !seen[id] {
			t.Errorf("rule %q of the reference doc is not registered", id)
		}
	}
	if len(RuleIDs()) != len(seen) {
		t.Errorf("RuleIDs() has %d entries, registry %d", len(RuleIDs()), len(seen))
	}
}

// TestEveryRuleIsTested asserts that each rule's table covers the cases every
// rule must have. The tables register themselves when their tests run, so
// this test runs them first.
func TestEveryRuleIsTested(t *testing.T) {
	t.Run("tables", func(t *testing.T) {
		TestRunAsNonRoot(t)
		TestDropAllCapabilities(t)
		TestSeccompRuntimeDefault(t)
		TestNoPrivilegeEscalation(t)
		TestTmpEmptyDir(t)
		TestReadOnlyRootFilesystem(t)
		TestRunAsUser(t)
		TestFSGroup(t)
		TestNoServiceAccountToken(t)
	})
	for _, r := range Rules() {
		cases, ok := ruleCases[r.ID]
		if !ok {
			t.Errorf("rule %q has no test table", r.ID)
			continue
		}
		have := map[string]bool{}
		for _, c := range cases {
			for _, tag := range c.tags {
				have[tag] = true
			}
		}
		for _, tag := range requiredTags {
			if !have[tag] {
				t.Errorf("rule %q has no %q test case", r.ID, tag)
			}
		}
	}
}

// TestRulesMatchReference checks the registry against the rule table of
// docs/reference.md, both ways, by ID and in order.
// TestRulesMatchReadme: the README's rule tables (defaults, then optional
// rules) name every registered rule once, and no other; a rule is in the
// optional table when it is Optional.
func TestRulesMatchReadme(t *testing.T) {
	doc, err := refdoc.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	names, err := refdoc.Names(doc, "## The rules")
	if err != nil {
		t.Fatalf("README.md: %v", err)
	}
	// The section has other tables (image users, for one): only names
	// shaped like rule IDs count.
	var documented []string
	for _, n := range names {
		if ruleIDShape.MatchString(n) {
			documented = append(documented, n)
		}
	}
	var defaultIDs, optionalIDs []string
	for _, r := range Rules() {
		if r.Optional {
			optionalIDs = append(optionalIDs, r.ID)
		} else {
			defaultIDs = append(defaultIDs, r.ID)
		}
	}
	want := append(defaultIDs, optionalIDs...)
	if len(documented) != len(want) {
		t.Fatalf("README.md's rule tables name %q, the registry holds %q", documented, want)
	}
	for i, id := range documented {
		wantIn := defaultIDs
		if i >= len(defaultIDs) {
			wantIn = optionalIDs
		}
		if !slices.Contains(wantIn, id) {
			t.Errorf("README.md's rule tables name %q, want the default rules %q first, then the optional ones %q", documented, defaultIDs, optionalIDs)
			break
		}
	}
}

var ruleIDShape = regexp.MustCompile(`^[a-z]+(-[a-z]+)+$`)

func TestRulesMatchReference(t *testing.T) {
	doc, err := refdoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	documented, err := refdoc.Names(doc, "## Rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range RuleIDs() {
		if !slices.Contains(documented, id) {
			t.Errorf("rule %q is not in the rule table of %s", id, refdoc.Path)
		}
	}
	for _, id := range documented {
		if !slices.Contains(RuleIDs(), id) {
			t.Errorf("%s documents rule %q, which is not registered", refdoc.Path, id)
		}
	}
	if !slices.Equal(documented, RuleIDs()) && len(documented) == len(RuleIDs()) {
		t.Errorf("%s lists the rules as %q, the registry runs them as %q: keep one order", refdoc.Path, documented, RuleIDs())
	}
}
