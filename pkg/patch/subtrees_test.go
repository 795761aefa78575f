package patch

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// TestSubtreesHoldWhatRulesWrite checks every field a rule declares it
// writes (defaults.Rule.Writes), and the annotation that records the rules,
// against the parts a Snapshot holds. A rule that writes elsewhere fails here
// by name, instead of with a patch that does not reproduce the mutated pod.
func TestSubtreesHoldWhatRulesWrite(t *testing.T) {
	subtrees := Subtrees()
	held := func(w string) bool {
		return slices.ContainsFunc(subtrees, func(s string) bool { return w == s || strings.HasPrefix(w, s+"/") })
	}
	for _, r := range defaults.Rules() {
		for _, w := range r.Writes {
			if !held(w) {
				t.Errorf("rule %s writes %s, which no part of the patch snapshot holds (Subtrees: %q): add the part to Snapshot.each and deepCopy", r.ID, w, subtrees)
			}
		}
	}
	if w := "/metadata/annotations/" + jsonpointer.Escape(defaults.DefaultedAnnotation); !held(w) {
		t.Errorf("defaults.Apply writes %s, which no part of the patch snapshot holds", w)
	}
}

func TestSubtrees(t *testing.T) {
	want := []string{
		"/metadata/annotations", "/spec/securityContext", "/spec/volumes", "/spec/automountServiceAccountToken",
		"/spec/initContainers/*/securityContext", "/spec/initContainers/*/volumeMounts",
		"/spec/containers/*/securityContext", "/spec/containers/*/volumeMounts",
		"/spec/ephemeralContainers/*/securityContext", "/spec/ephemeralContainers/*/volumeMounts",
	}
	if got := Subtrees(); !slices.Equal(got, want) {
		t.Errorf("Subtrees() = %q, want %q", got, want)
	}
}

// TestDeepCopyUnknownType checks that a part of a type deepCopy does not
// know (one added to Snapshot.each without a case in deepCopy) is an error
// that Patch returns, never a panic.
func TestDeepCopyUnknownType(t *testing.T) {
	_, err := deepCopy([]int{1})
	if err == nil || !strings.Contains(err.Error(), "no deep copy for []int") {
		t.Fatalf("deepCopy of an unknown type = %v, want an error naming the type", err)
	}
	if _, perr := (&Snapshot{err: err}).Patch(&corev1.Pod{}); !errors.Is(perr, err) {
		t.Errorf("Patch of a snapshot that could not copy a part = %v, want %v", perr, err)
	}
}
