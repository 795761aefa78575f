package defaults

import (
	"fmt"
	"sort"
	"strings"
)

// Pod annotations that opt some rules, or some containers, of one pod out.
const (
	// SkipRulesAnnotation lists rule IDs, comma-separated, that do not run on
	// the pod.
	SkipRulesAnnotation = AnnotationPrefix + "skip-rules"
	// SkipContainersAnnotation lists container names, comma-separated, that
	// every rule leaves alone.
	SkipContainersAnnotation = AnnotationPrefix + "skip-containers"
)

// Reasons a container is left alone, as in SkippedContainer.Reason and the
// metric label: a small fixed set.
const (
	SkipReasonAnnotation        = "annotation"
	SkipReasonExcludeContainers = "excludeContainers"
	SkipReasonExcludeImages     = "excludeImages"
)

// SkippedContainer is a container every rule left alone, and why.
type SkippedContainer struct {
	Name string
	// Reason is SkipReasonAnnotation, SkipReasonExcludeContainers or
	// SkipReasonExcludeImages.
	Reason string
}

// optOuts is what the pod's annotations and the options take out of one pass.
type optOuts struct {
	rules      map[string]bool // rule IDs skipped by the annotation
	containers map[string]string
	warnings   []string
}

// readOptOuts reads the skip annotations of pod (unless opts ignores pod
// opt-outs) and the options' exclusion patterns, against the containers in
// s.all. Unknown rule IDs and container names get a warning.
func readOptOuts(annotations map[string]string, s *scope, opts Options) optOuts {
	var o optOuts
	rulesValue, hasRules := annotations[SkipRulesAnnotation]
	containersValue, hasContainers := annotations[SkipContainersAnnotation]
	if opts.IgnorePodOptOut {
		for _, key := range []struct {
			key string
			has bool
		}{{SkipRulesAnnotation, hasRules}, {SkipContainersAnnotation, hasContainers}} {
			if key.has {
				o.warnings = append(o.warnings, fmt.Sprintf(
					"the pod's annotation %s was ignored: this cluster does not allow pods to opt out of the secure defaults", key.key))
			}
		}
		hasRules, hasContainers = false, false
	}
	if hasRules {
		var unknown []string
		for _, id := range splitList(rulesValue) {
			if !known(id) {
				unknown = append(unknown, id)
				continue
			}
			if o.rules == nil {
				o.rules = map[string]bool{}
			}
			o.rules[id] = true
		}
		if len(unknown) > 0 {
			o.warnings = append(o.warnings, fmt.Sprintf("%s names no rule %s; the rules are %s",
				SkipRulesAnnotation, quoteAll(unknown), strings.Join(RuleIDs(), ", ")))
		}
	}
	var named map[string]bool
	if hasContainers {
		named = map[string]bool{}
		for _, n := range splitList(containersValue) {
			named[n] = true
		}
	}
	if named == nil && len(opts.ExcludeContainers) == 0 && len(opts.ExcludeImages) == 0 {
		return o
	}
	seen := map[string]bool{}
	for _, c := range s.all {
		seen[c.name] = true
		reason := ""
		switch {
		case named[c.name]:
			reason = SkipReasonAnnotation
		case matchAny(opts.ExcludeContainers, c.name):
			reason = SkipReasonExcludeContainers
		case matchAny(opts.ExcludeImages, c.image):
			reason = SkipReasonExcludeImages
		}
		if reason != "" {
			if o.containers == nil {
				o.containers = map[string]string{}
			}
			o.containers[c.name] = reason
		}
	}
	var unknown []string
	for n := range named {
		if !seen[n] {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		o.warnings = append(o.warnings, fmt.Sprintf("%s names no container of the pod: %s", SkipContainersAnnotation, quoteAll(unknown)))
	}
	return o
}

// splitList splits a comma-separated annotation value, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, f := range strings.Split(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func known(id string) bool {
	for _, r := range registry {
		if r.ID == id {
			return true
		}
	}
	return false
}

// Bounds on what a warning echoes from an annotation, which may hold up to
// 256 KiB: at most maxEchoedItems values of at most maxEchoedBytes each.
const (
	maxEchoedItems = 10
	maxEchoedBytes = 64
)

// quoteAll quotes the values of s for a warning, within the bounds above.
func quoteAll(s []string) string {
	var q []string
	for i, v := range s {
		if i == maxEchoedItems {
			q = append(q, fmt.Sprintf("and %d more", len(s)-i))
			break
		}
		q = append(q, fmt.Sprintf("%q", echo(v)))
	}
	return strings.Join(q, ", ")
}

// echo shortens a value from the pod to at most maxEchoedBytes for a message.
func echo(v string) string {
	if len(v) > maxEchoedBytes {
		return v[:maxEchoedBytes] + "..."
	}
	return v
}
