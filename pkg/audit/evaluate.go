package audit

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
	"github.com/secure-defaults/secure-defaults/pkg/podsecurity"
)

// Evaluator runs the rules and Pod Security "restricted" on pods.
type Evaluator struct {
	rules  defaults.Options
	images *imagelookup.Resolver
}

// NewEvaluator returns an Evaluator that runs the rules with rules (the
// zero value: the shipped defaults, as the webhook without a configuration
// file) and the latest version of Pod Security "restricted", with the
// webhook's own self-check (package podsecurity). With images (not nil) it
// reads what each container's image runs as, as the webhook does with image
// lookup on; without, start verdicts that depend on an image are unknown.
func NewEvaluator(rules defaults.Options, images *imagelookup.Resolver) *Evaluator {
	return &Evaluator{rules: rules, images: images}
}

// Evaluate reports what the rules would do to pod (a Pod, or a pod template
// made into one). It fills in every field of Workload but the object's
// identity, and never changes pod. Image lookups stop when ctx ends.
func (e *Evaluator) Evaluate(ctx context.Context, pod *corev1.Pod) Workload {
	opts := e.rules
	var images *imageFacts
	if e.images != nil {
		pf := e.images.ForPod(ctx, pod, nil, nil)
		opts.Facts = pf.Facts()
		images = &imageFacts{nonRoot: pf.NonRoot, warnings: pf.Warnings}
	}
	after := pod.DeepCopy()
	res := defaults.Apply(after, opts)
	before := violations(pod)
	stillFails := violations(after)
	skipped := make([]SkippedContainer, 0, len(res.SkippedContainers))
	for _, c := range res.SkippedContainers {
		skipped = append(skipped, SkippedContainer{Container: c.Name, Reason: c.Reason})
	}
	return Workload{
		Rules:             nonNil(res.Applied),
		OptedOut:          res.OptedOut,
		SkippedRules:      nonNil(res.SkippedRules),
		SkippedContainers: skipped,
		Restricted: Restricted{
			Before:     len(before) == 0,
			After:      len(stillFails) == 0,
			StillFails: stillFails,
		},
		NeedsRoot: rootContainers(defaults.NeedsRoot(pod, opts)),
		Start:     startVerdict(pod, after, images),
		Warnings:  nonNil(append(res.Warnings, images.lookupWarnings()...)),
	}
}

// imageFacts is what image lookup told of one pod's images that the start
// verdict needs; nil when lookup is off.
type imageFacts struct {
	// nonRoot: containers whose image runs as a numeric non-zero UID.
	nonRoot map[string]bool
	// warnings: lookups that failed.
	warnings []string
}

func (f *imageFacts) lookupWarnings() []string {
	if f == nil {
		return nil
	}
	return f.warnings
}

// violations returns the failed "restricted" checks of pod, in Pod
// Security's order.
func violations(pod *corev1.Pod) []Violation {
	out := []Violation{}
	for _, f := range podsecurity.Failures(pod) {
		out = append(out, Violation{Reason: f.Reason, Detail: f.Detail})
	}
	return out
}

// startVerdict says whether the containers of after (the pod once the rules
// ran) would start where those of before do. The one thing the rules add
// that the kubelet checks at start is runAsNonRoot: with an explicit UID the
// answer is known; without one the kubelet reads the image's user, which
// only an image lookup (images, nil when off) knows. Containers that had
// runAsNonRoot: true before are not the rules' doing and are not judged.
func startVerdict(before, after *corev1.Pod, images *imageFacts) Start {
	st := Start{Verdict: Starts, Reasons: []string{}}
	windows := defaults.IsWindows(after)
	b, a := containerList(before), containerList(after)
	for i := range a {
		if i >= len(b) {
			break
		}
		was := effective(before.Spec.SecurityContext, b[i].sc)
		now := effective(after.Spec.SecurityContext, a[i].sc)
		if !isTrue(now.runAsNonRoot) || isTrue(was.runAsNonRoot) {
			continue
		}
		name := fmt.Sprintf("%s %q", a[i].kind, a[i].name)
		switch {
		case windows && now.userName != nil && strings.EqualFold(*now.userName, "ContainerAdministrator"):
			st.Verdict = WouldNotStart
			st.Reasons = append(st.Reasons, name+": runAsNonRoot with runAsUserName ContainerAdministrator")
		case windows && now.userName != nil:
			// A named non-administrator account: the kubelet accepts it.
		case !windows && now.uid != nil && *now.uid == 0:
			st.Verdict = WouldNotStart
			st.Reasons = append(st.Reasons, name+": runAsNonRoot with runAsUser: 0")
		case !windows && now.uid != nil:
			// An explicit non-zero UID: the kubelet does not look at the image.
		case !windows && images != nil && images.nonRoot[a[i].name]:
			// Its image runs as a numeric non-zero UID: the kubelet verifies it.
		default:
			if st.Verdict == Starts {
				st.Verdict = StartUnknown
			}
			st.Reasons = append(st.Reasons, fmt.Sprintf(
				"%s: gets runAsNonRoot and sets no %s, so it starts only if image %q runs as a non-root numeric user; %s",
				name, userField(windows), a[i].image, images.why(windows)))
		}
	}
	return st
}

// why says why an image's user is not known.
func (f *imageFacts) why(windows bool) string {
	switch {
	case f == nil:
		return "image lookup is off"
	case windows:
		return "image lookup does not read Windows images"
	default:
		return "its user could not be read (see the warnings)"
	}
}

func userField(windows bool) string {
	if windows {
		return "runAsUserName"
	}
	return "runAsUser"
}

type containerRef struct {
	kind, name, image string
	sc                *corev1.SecurityContext
}

// containerList returns every container of pod in pod order, with the kind
// named as in messages.
func containerList(pod *corev1.Pod) []containerRef {
	var out []containerRef
	for _, c := range pod.Spec.InitContainers {
		out = append(out, containerRef{"init container", c.Name, c.Image, c.SecurityContext})
	}
	for _, c := range pod.Spec.Containers {
		out = append(out, containerRef{"container", c.Name, c.Image, c.SecurityContext})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		out = append(out, containerRef{"ephemeral container", c.Name, c.Image, c.SecurityContext})
	}
	return out
}

type effectiveUser struct {
	runAsNonRoot *bool
	uid          *int64
	userName     *string
}

// effective merges a container's security context over the pod's, as the
// kubelet does for the fields it checks at start.
func effective(podSC *corev1.PodSecurityContext, sc *corev1.SecurityContext) effectiveUser {
	var e effectiveUser
	if podSC != nil {
		e.runAsNonRoot, e.uid = podSC.RunAsNonRoot, podSC.RunAsUser
		if podSC.WindowsOptions != nil {
			e.userName = podSC.WindowsOptions.RunAsUserName
		}
	}
	if sc != nil {
		if sc.RunAsNonRoot != nil {
			e.runAsNonRoot = sc.RunAsNonRoot
		}
		if sc.RunAsUser != nil {
			e.uid = sc.RunAsUser
		}
		if sc.WindowsOptions != nil && sc.WindowsOptions.RunAsUserName != nil {
			e.userName = sc.WindowsOptions.RunAsUserName
		}
	}
	return e
}

func isTrue(b *bool) bool { return b != nil && *b }

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
