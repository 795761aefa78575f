package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// lookupRegistry serves an image of each kind the start verdict tells
// apart, by tag, and returns their references and a resolver reading it.
func lookupRegistry(t *testing.T) (reg *ilt.Registry, numeric, named, root, missing string, r *imagelookup.Resolver) {
	t.Helper()
	reg = ilt.New(t)
	reg.Push(t, "numeric", "v1", ilt.Image(t, "65532"))
	reg.Push(t, "named", "v1", ilt.Image(t, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}))
	reg.Push(t, "root", "v1", ilt.Image(t, ""))
	tag := func(repo string) string { return reg.Host + "/" + repo + ":v1" }
	r, err := imagelookup.New(imagelookup.Config{Enabled: true}, imagelookup.WithTransport(reg.Transport))
	if err != nil {
		t.Fatal(err)
	}
	return reg, tag("numeric"), tag("named"), tag("root"), tag("missing"), r
}

// TestEvaluateWithImageLookup: with image lookup the audit knows what the
// webhook would know. A numeric non-root image starts under runAsNonRoot, a
// user name is pinned (and starts), a root image is left to run as root and
// reported as needing root; only an image whose user cannot be read leaves
// the verdict unknown, saying so.
func TestEvaluateWithImageLookup(t *testing.T) {
	_, numeric, named, root, missing, r := lookupRegistry(t)
	ev := NewEvaluator(defaults.Options{}, r)
	pod := tweak(basePod(), func(p *corev1.Pod) {
		p.Spec.InitContainers = []corev1.Container{
			{Name: "setup", Image: root},
			// Its user is the manifest's: not looked up, not judged.
			{Name: "explicit", Image: missing, SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](7)}},
		}
		p.Spec.Containers = []corev1.Container{{Name: "app", Image: named}, {Name: "metrics", Image: numeric}}
	})

	got := ev.Evaluate(context.Background(), pod)
	if got.Start.Verdict != Starts || len(got.Start.Reasons) != 0 {
		t.Errorf("start = %+v, want starts", got.Start)
	}
	if len(got.NeedsRoot) != 1 || got.NeedsRoot[0].Container != "setup" || !strings.Contains(got.NeedsRoot[0].Reason, "image "+root+" runs as root") {
		t.Errorf("needs root = %+v, want setup, naming its image", got.NeedsRoot)
	}
	if !strings.Contains(strings.Join(got.Rules, ","), "run-as-non-root") {
		t.Errorf("rules = %v, want run-as-non-root (for app and metrics)", got.Rules)
	}
	if !got.Restricted.Before && got.Restricted.After {
		t.Errorf("restricted after = true with a container left to run as root")
	}

	// The same pod without lookup: app and metrics are unknown.
	off := NewEvaluator(defaults.Options{}, nil).Evaluate(context.Background(), pod)
	if off.Start.Verdict != StartUnknown || !strings.Contains(strings.Join(off.Start.Reasons, "\n"), "image lookup is off") {
		t.Errorf("without lookup: start = %+v, want unknown, saying lookup is off", off.Start)
	}

	// An image that is not there: unknown, with the reason and the warning.
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "gone", Image: missing})
	got = ev.Evaluate(context.Background(), pod)
	if got.Start.Verdict != StartUnknown || len(got.Start.Reasons) != 1 ||
		!strings.Contains(got.Start.Reasons[0], `container "gone"`) || !strings.Contains(got.Start.Reasons[0], "could not be read") {
		t.Errorf("start = %+v, want unknown for gone only", got.Start)
	}
	if !strings.Contains(strings.Join(got.Warnings, "\n"), "the user of image "+missing+" is not known") {
		t.Errorf("warnings %q do not say the lookup failed", got.Warnings)
	}

	// Windows pods: the kubelet checks runAsNonRoot against the image's
	// user there too, but lookup does not read Windows images; the reason
	// says so.
	win := tweak(basePod(), func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} })
	if got := ev.Evaluate(context.Background(), win); got.Start.Verdict != StartUnknown ||
		!strings.Contains(strings.Join(got.Start.Reasons, "\n"), "does not read Windows images") {
		t.Errorf("Windows pod: start = %+v, want unknown, saying why", got.Start)
	}
}

// TestRunWithImageLookup: a run with lookup on says so in the report,
// counts verdicts from the images, and looks each distinct image up once
// however many workloads use it.
func TestRunWithImageLookup(t *testing.T) {
	reg, numeric, named, root, missing, r := lookupRegistry(t)
	objs := []runtime.Object{ns(t, "team-a", nil)}
	for i, img := range []string{numeric, named, root, missing, numeric, named, root, missing, numeric} {
		objs = append(objs, deployment(t, "team-a", fmt.Sprintf("web-%d", i), func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = img
		}))
	}
	_, client := newFake(objs...)
	before := reg.ManifestRequests.Load()
	rep, err := Run(context.Background(), client, Options{Namespaces: []string{"team-a"}, PageSize: 4, Images: r})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.ImageLookup {
		t.Error("report says image lookup was off")
	}
	// Root images are left to run as root: those 2 still fail restricted.
	want := Counts{Workloads: 9, WouldChange: 9, RestrictedAfter: 7, StartUnknown: 2}
	if rep.Totals != want {
		t.Errorf("totals = %+v, want %+v", rep.Totals, want)
	}
	// numeric, named, root: one manifest each, whatever the pages; missing
	// is asked once and its failure remembered.
	if n := reg.ManifestRequests.Load() - before; n > 4 {
		t.Errorf("%d manifest requests for 4 distinct images", n)
	}
}
