package imagelookup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// Pin is a user to pin on a container: the UID (and GID, when the image
// names a group) its image would run as anyway, or the configured non-root
// UID for a root image. It is the rules' own type, so PodFacts hands its
// pins over without a copy.
type Pin = defaults.Pin

// PodFacts is what the images of one pod say, by container name, in the
// terms the rules take.
type PodFacts struct {
	// NeedsRoot: containers whose image runs as root or as an unresolvable
	// user, with the reason (naming the image) for the rules' warning.
	NeedsRoot map[string]string
	// Pins: containers whose runAsUser (and runAsGroup) to set, because the
	// kubelet cannot verify their image's user name, or the configuration
	// gives root images a fixed UID.
	Pins map[string]Pin
	// NonRoot: containers whose image names a non-root user of its own: a
	// numeric non-zero UID, which the kubelet verifies against runAsNonRoot
	// as it is, or a name whose UID is in Pins. An audit knows they start;
	// the optional run-as-user rule leaves them their image's user.
	NonRoot map[string]bool
	// Warnings for the user: lookups that failed (the container is defaulted
	// as with lookup off).
	Warnings []string
}

// reviewMargin is the part of a review's remaining time that lookups leave
// to the rules, the patch and the answer.
const (
	reviewMarginFraction = 10
	minReviewMargin      = 50 * time.Millisecond
)

// ForPod looks up the images of the containers of pod named in containers
// (nil: every container) whose user the manifest leaves to the image, in
// parallel, and says what they mean. It returns within ctx's deadline less a
// margin for the rest of the review. secrets, if not nil, supplies the pod's
// imagePullSecrets (Config.PullSecrets). A Windows pod is not looked up.
func (r *Resolver) ForPod(ctx context.Context, pod *corev1.Pod, containers map[string]bool, secrets SecretGetter) PodFacts {
	var pf PodFacts
	wants := wanted(pod, containers)
	if len(wants) == 0 {
		return pf
	}
	images := imagesOf(wants)
	if dl, ok := ctx.Deadline(); ok {
		margin := max(time.Until(dl)/reviewMarginFraction, minReviewMargin)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
		defer cancel()
	}
	var creds authn.Keychain
	credKey := ""
	if secrets != nil && r.cfg.PullSecrets {
		creds, credKey = PullSecrets(secrets, pod)
	}
	out := r.LookupAll(ctx, images, creds, credKey)
	for _, w := range wants {
		o := out[w.image]
		if o.Err != nil {
			pf.Warnings = append(pf.Warnings, fmt.Sprintf(
				"container %q: the user of image %s is not known (%s), so it was defaulted as without image lookup", w.name, w.image, shortError(o.Err)))
			continue
		}
		f := o.Facts
		if f.Verdict == VerdictNonRoot || f.Verdict == VerdictPin {
			if pf.NonRoot == nil {
				pf.NonRoot = map[string]bool{}
			}
			pf.NonRoot[w.name] = true
		}
		switch f.Verdict {
		case VerdictPin:
			pf.pin(w.name, Pin{UID: *f.UID, GID: f.GID, Reason: fmt.Sprintf(
				"the UID of user %q in image %s, so the kubelet can verify runAsNonRoot", f.User, w.image)})
		case VerdictRoot:
			if u := r.cfg.RootImageRunAsUser; u != nil {
				pf.pin(w.name, Pin{UID: *u, Reason: fmt.Sprintf(
					"the webhook's configured UID for images that run as root (image %s: %s)", w.image, f.Reason)})
				continue
			}
			if pf.NeedsRoot == nil {
				pf.NeedsRoot = map[string]string{}
			}
			pf.NeedsRoot[w.name] = fmt.Sprintf("its image %s runs as root: %s", w.image, f.Reason)
		}
	}
	return pf
}

// want is a container whose image ForPod looks up.
type want struct{ name, image string }

// wanted returns the containers of pod named in containers (nil: every
// container) whose user the manifest leaves to the image: those ForPod looks
// up. A Windows pod has none.
func wanted(pod *corev1.Pod, containers map[string]bool) []want {
	if defaults.IsWindows(pod) {
		return nil
	}
	var wants []want
	add := func(name, image string, sc *corev1.SecurityContext) {
		if containers != nil && !containers[name] {
			return
		}
		if !leftToImage(pod.Spec.SecurityContext, sc) || strings.TrimSpace(image) == "" {
			return
		}
		wants = append(wants, want{name, image})
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		add(c.Name, c.Image, c.SecurityContext)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		add(c.Name, c.Image, c.SecurityContext)
	}
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		add(c.Name, c.Image, c.SecurityContext)
	}
	return wants
}

// imagesOf returns the images of wants, in order, repeats included.
func imagesOf(wants []want) []string {
	images := make([]string, len(wants))
	for i, w := range wants {
		images[i] = w.image
	}
	return images
}

func (pf *PodFacts) pin(name string, p Pin) {
	if pf.Pins == nil {
		pf.Pins = map[string]Pin{}
	}
	pf.Pins[name] = p
}

// shortError names the kind of failure without the registry's full answer.
func shortError(err error) string {
	if errors.Is(err, ErrTimeout) {
		return "the registry did not answer in time"
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return fmt.Sprintf("the registry answered %d %s", te.StatusCode, http.StatusText(te.StatusCode))
	}
	s := err.Error()
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// leftToImage reports whether the user a container runs as is left to its
// image: neither it nor the pod sets runAsUser, and it does not set
// runAsNonRoot: false (root on purpose, whatever the image says).
func leftToImage(podSC *corev1.PodSecurityContext, sc *corev1.SecurityContext) bool {
	if sc != nil && sc.RunAsUser != nil {
		return false
	}
	if podSC != nil && podSC.RunAsUser != nil {
		return false
	}
	nonRoot := (*bool)(nil)
	if podSC != nil {
		nonRoot = podSC.RunAsNonRoot
	}
	if sc != nil && sc.RunAsNonRoot != nil {
		nonRoot = sc.RunAsNonRoot
	}
	return nonRoot == nil || *nonRoot
}

// Facts returns pf in the terms of package defaults, for Options.Facts.
func (pf PodFacts) Facts() defaults.Facts {
	return defaults.Facts{NeedsRoot: pf.NeedsRoot, Pins: pf.Pins, ImageNonRoot: pf.NonRoot}
}
