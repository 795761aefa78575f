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

// Failure is one check of Pod Security "restricted" that a pod fails.
type Failure struct {
	// Reason is the check's short reason, e.g. "restricted volume types".
	Reason string
	// Detail names containers or values, e.g. `pod uses hostPath volume
	// "data"`; at most 512 bytes (longer ones are cut and end in "...").
	Detail string
}

// Failures returns the checks of Pod Security "restricted" (latest) that pod
// fails, in the library's order. Nil means the pod passes.
func Failures(pod *corev1.Pod) []Failure {
	var out []Failure
	for _, r := range evaluator.EvaluatePod(restricted, &pod.ObjectMeta, &pod.Spec) {
		if r.Allowed {
			continue
		}
		d := r.ForbiddenDetail
		if len(d) > maxDetail {
			d = d[:maxDetail] + "..."
		}
		out = append(out, Failure{Reason: r.ForbiddenReason, Detail: d})
	}
	return out
}

// Violations returns one message per check of Pod Security "restricted"
// (latest) that pod fails, in the library's order, e.g.
// `restricted volume types: pod uses hostPath volume "data"`. Nil means the
// pod passes.
func Violations(pod *corev1.Pod) []string {
	var out []string
	for _, f := range Failures(pod) {
		msg := f.Reason
		if f.Detail != "" {
			msg += ": " + f.Detail
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
