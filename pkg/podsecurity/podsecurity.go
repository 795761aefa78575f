package podsecurity

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// evaluator holds Pod Security's own checks, built once.
var evaluator = func() policy.Evaluator {
	e, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		// The library's default checks always build; failing here means a
		// broken dependency, which every test would show.
		panic(fmt.Sprintf("pod security checks: %v", err))
	}
	return e
}()

// restricted is the level the check uses: restricted, latest version.
var restricted = api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}

// maxDetail bounds the detail of one failed check in a warning: it may list
// container names and values from the pod.
const maxDetail = 512

// Violations returns one message per check of Pod Security "restricted"
// (latest) that pod fails, in the library's order, e.g.
// `restricted volume types: pod uses hostPath volume "data"`. Nil means the
// pod passes.
func Violations(pod *corev1.Pod) []string {
	var out []string
	for _, r := range evaluator.EvaluatePod(restricted, &pod.ObjectMeta, &pod.Spec) {
		if r.Allowed {
			continue
		}
		msg := r.ForbiddenReason
		if d := r.ForbiddenDetail; d != "" {
			if len(d) > maxDetail {
				d = d[:maxDetail] + "..."
			}
			msg += ": " + d
		}
		out = append(out, msg)
	}
	return out
}

// Warning returns the warning to show when pod still fails Pod Security
// "restricted" after the defaults, naming every failed check, or "" when it
// passes.
func Warning(pod *corev1.Pod) string {
	v := Violations(pod)
	if len(v) == 0 {
		return ""
	}
	return fmt.Sprintf("even with the secure defaults, this pod would be rejected where Pod Security %q is enforced; change it yourself: %s",
		"restricted:latest", strings.Join(v, "; "))
}
