package defaults

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
)

const (
	// AnnotationPrefix is the prefix of every label and annotation of the project.
	AnnotationPrefix = "secure-defaults.dev/"
	// InjectKey is the namespace label that opts a namespace in, and the pod
	// annotation that opts a single pod out.
	InjectKey = AnnotationPrefix + "inject"
	// InjectEnabled is the value of the namespace label that opts in.
	InjectEnabled = "enabled"
	// InjectDisabled is the value of the pod annotation that opts out.
	InjectDisabled = "disabled"
	// DefaultedAnnotation lists the IDs of the rules that changed the pod,
	// sorted and comma-separated.
	DefaultedAnnotation = AnnotationPrefix + "defaulted"
)

// Result says what Apply or ApplyEphemeral did to a pod.
type Result struct {
	// Applied holds the IDs of the rules that changed the pod, sorted.
	Applied []string
	// Warnings are messages for the user about defaults that were left out on
	// purpose (for example runAsNonRoot next to runAsUser: 0). Safe to show
	// in kubectl: they name containers and fields, never values of secrets.
	Warnings []string
	// OptedOut is true when the pod carries the opt-out annotation and was
	// left untouched.
	OptedOut bool
	// Err is set when Options.Context was done before the pass finished:
	// the pod is half changed and must be thrown away.
	Err error
	// SkippedRules holds the IDs of enabled rules that the pod's
	// skip-rules annotation kept from running, sorted.
	SkippedRules []string
	// SkippedContainers lists the containers in scope that every rule left
	// alone, in pod order, with the reason.
	SkippedContainers []SkippedContainer
}

// Changed reports whether any rule changed the pod.
func (r Result) Changed() bool { return len(r.Applied) > 0 }

// Apply fills in the secure defaults that opts enables on pod, in place, as
// for a Pod CREATE: pod-level fields and every init (sidecar included),
// regular and ephemeral container. It records the applied rules in the
// DefaultedAnnotation. Options{} gives the shipped defaults.
func Apply(pod *corev1.Pod, opts Options) Result {
	opts.Facts = withRunAsUser(pod, opts)
	return apply(pod, newScope(pod, nil, opts.Facts), opts)
}

// ApplyEphemeral fills in the secure defaults on the ephemeral containers of
// pod whose names do not appear in existing (the ephemeral containers the
// running pod had before this update), in place. Nothing else in the pod is
// changed: the ephemeralcontainers subresource accepts changes to ephemeral
// containers only, so pod-level defaults are set on each new container
// instead, and no volume or annotation is added.
func ApplyEphemeral(pod *corev1.Pod, existing []corev1.EphemeralContainer, opts Options) Result {
	old := make(map[string]bool, len(existing))
	for _, c := range existing {
		old[c.Name] = true
	}
	opts.Facts = withRunAsUser(pod, opts)
	return apply(pod, newScope(pod, old, opts.Facts), opts)
}

func apply(pod *corev1.Pod, s *scope, opts Options) Result {
	s.opts = opts
	var res Result
	if OptedOut(pod) {
		if !opts.IgnorePodOptOut {
			res.OptedOut = true
			return res
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"the pod's annotation %s=%s was ignored: this cluster does not allow pods to opt out of the secure defaults",
			InjectKey, pod.Annotations[InjectKey]))
	}
	if name := repeatedName(s.all); name != "" {
		// The API server rejects such a pod after mutating admission, with
		// the field at fault; defaulting it would only cost time.
		res.Warnings = append(res.Warnings, fmt.Sprintf(
			"container name %q is used more than once, which the API server rejects; no defaults were applied", echo(name)))
		return res
	}
	skip := readOptOuts(pod.Annotations, s, opts)
	res.Warnings = append(res.Warnings, skip.warnings...)
	res.SkippedContainers = s.exclude(skip.containers)
	for _, r := range registry {
		if err := s.interrupted(); err != nil {
			res.Err = fmt.Errorf("the rules were interrupted before %s: %w", r.ID, err)
			return res
		}
		if !opts.enabled(r) {
			continue
		}
		if skip.rules[r.ID] {
			res.SkippedRules = append(res.SkippedRules, r.ID)
			continue
		}
		changed, warnings := r.apply(pod, s)
		if changed {
			res.Applied = append(res.Applied, r.ID)
		}
		res.Warnings = append(res.Warnings, warnings...)
	}
	if err := s.interrupted(); err != nil {
		res.Err = fmt.Errorf("the rules were interrupted: %w", err)
		return res
	}
	sort.Strings(res.Applied)
	sort.Strings(res.SkippedRules)
	res.Warnings = append(res.Warnings, skippedWarnings(res)...)
	if res.Changed() && !s.ephemeralOnly {
		if err := recordApplied(pod, res.Applied); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf(
				"%s was not recorded: with it the pod's annotations would exceed what the API server accepts (%v)",
				DefaultedAnnotation, err))
		}
	}
	return res
}

// repeatedName returns a container name used twice (across init, regular
// and ephemeral containers, as the API server counts), or "".
func repeatedName(all []container) string {
	seen := make(map[string]bool, len(all))
	for _, c := range all {
		if seen[c.name] {
			return c.name
		}
		seen[c.name] = true
	}
	return ""
}

// skippedWarnings names what the pass left out on request.
func skippedWarnings(res Result) []string {
	var out []string
	if len(res.SkippedRules) > 0 {
		out = append(out, fmt.Sprintf("rules skipped by the annotation %s: %s", SkipRulesAnnotation, strings.Join(res.SkippedRules, ", ")))
	}
	if len(res.SkippedContainers) > 0 {
		names := make([]string, len(res.SkippedContainers))
		for i, c := range res.SkippedContainers {
			names[i] = fmt.Sprintf("%q (%s)", echo(c.Name), skipReasonText(c.Reason))
		}
		if len(names) > maxEchoedItems {
			names = append(names[:maxEchoedItems], fmt.Sprintf("and %d more", len(names)-maxEchoedItems))
		}
		out = append(out, "containers left without secure defaults: "+strings.Join(names, ", "))
	}
	return out
}

func skipReasonText(reason string) string {
	switch reason {
	case SkipReasonAnnotation:
		return "annotation " + SkipContainersAnnotation
	case SkipReasonExcludeContainers:
		return "name matches excludeContainers"
	case SkipReasonExcludeImages:
		return "image matches excludeImages"
	}
	return reason
}

// OptedOut reports whether pod carries the opt-out annotation.
func OptedOut(pod *corev1.Pod) bool {
	return strings.EqualFold(strings.TrimSpace(pod.Annotations[InjectKey]), InjectDisabled)
}

// recordApplied merges ids into the DefaultedAnnotation, keeping it sorted and
// free of duplicates, so a later pass (reinvocation) only ever adds to it.
// When the annotations would then exceed the API server's total size limit,
// it leaves them as they were and returns the API server's error: a record
// must never make a valid pod invalid.
func recordApplied(pod *corev1.Pod, ids []string) error {
	set := map[string]bool{}
	if prev := pod.Annotations[DefaultedAnnotation]; prev != "" {
		for _, id := range strings.Split(prev, ",") {
			if id = strings.TrimSpace(id); id != "" {
				set[id] = true
			}
		}
	}
	for _, id := range ids {
		set[id] = true
	}
	all := make([]string, 0, len(set))
	for id := range set {
		all = append(all, id)
	}
	sort.Strings(all)
	prev, had := pod.Annotations[DefaultedAnnotation]
	created := pod.Annotations == nil
	if created {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[DefaultedAnnotation] = strings.Join(all, ",")
	err := apivalidation.ValidateAnnotationsSize(pod.Annotations)
	switch {
	case err == nil:
	case created:
		pod.Annotations = nil
	case had:
		pod.Annotations[DefaultedAnnotation] = prev
	default:
		delete(pod.Annotations, DefaultedAnnotation)
	}
	return err
}
