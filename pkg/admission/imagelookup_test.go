package admission_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// imageRegistry serves the three kinds of image a pod may hold: one that
// runs as root, one as a user name, one as a numeric user.
type imageRegistry struct {
	*ilt.Registry
	root, named, numeric string
}

func newImageRegistry(t testing.TB) imageRegistry {
	reg := ilt.New(t)
	return imageRegistry{
		Registry: reg,
		root:     reg.Push(t, "root", "v1", ilt.Image(t, "")),
		named:    reg.Push(t, "named", "v1", ilt.Image(t, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")})),
		numeric:  reg.Push(t, "numeric", "v1", ilt.Image(t, "65532")),
	}
}

func lookupHandler(t testing.TB, reg *ilt.Registry, cfg imagelookup.Config) *admission.Handler {
	t.Helper()
	cfg.Enabled = true
	r, err := imagelookup.New(cfg, imagelookup.WithTransport(reg.Transport))
	if err != nil {
		t.Fatal(err)
	}
	h := admission.NewHandler(nil, nil)
	h.SetImageLookup(func() admission.ImageLookup { return admission.ImageLookup{Resolver: r} })
	return h
}

// threeImages is a pod whose containers run the registry's three images.
func (r imageRegistry) threeImages(p *corev1.Pod) {
	p.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: r.root}}
	p.Spec.Containers = []corev1.Container{{Name: "app", Image: r.named}, {Name: "metrics", Image: r.numeric}}
}

func review(t *testing.T, h *admission.Handler, ctx context.Context, pod *corev1.Pod) (*corev1.Pod, *admissionv1.AdmissionResponse) {
	t.Helper()
	raw := at.RawPod(pod)
	out, err := h.Review(ctx, at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: raw}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Allowed {
		t.Fatalf("not allowed: %v", resp.Result)
	}
	got, _, err := at.ApplyResponse(raw, resp)
	if err != nil {
		t.Fatal(err)
	}
	return got, resp
}

func TestReviewWithImageLookup(t *testing.T) {
	reg := newImageRegistry(t)
	h := lookupHandler(t, reg.Registry, imagelookup.Config{})
	got, resp := review(t, h, context.Background(), at.Pod(reg.threeImages))

	// The root image's container needs root: no pod-level runAsNonRoot, and
	// it keeps its own user; the named one is pinned to its UID; the numeric
	// one gets runAsNonRoot as with lookup off.
	if sc := got.Spec.SecurityContext; sc != nil && sc.RunAsNonRoot != nil {
		t.Errorf("pod-level runAsNonRoot set next to a root image: %v", *sc.RunAsNonRoot)
	}
	setup := got.Spec.InitContainers[0].SecurityContext
	if setup != nil && (setup.RunAsNonRoot != nil || setup.RunAsUser != nil) {
		t.Errorf("root image container got %+v", setup)
	}
	app := got.Spec.Containers[0].SecurityContext
	if app == nil || app.RunAsUser == nil || *app.RunAsUser != 1000 || app.RunAsNonRoot == nil || !*app.RunAsNonRoot {
		t.Errorf("named-user container: %+v, want runAsUser 1000 and runAsNonRoot", app)
	}
	if m := got.Spec.Containers[1].SecurityContext; m == nil || m.RunAsNonRoot == nil || !*m.RunAsNonRoot || m.RunAsUser != nil {
		t.Errorf("numeric-user container: %+v, want runAsNonRoot only", m)
	}
	warnings := strings.Join(resp.Warnings, "\n")
	for _, want := range []string{`"setup" runs as root (its image ` + reg.root, `"app": runAsUser set to 1000`} {
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings %q do not say %q", resp.Warnings, want)
		}
	}

	// A second pass (reinvocation) changes nothing.
	again, resp2 := review(t, h, context.Background(), got)
	if same, diff := at.SamePod(got, again); !same || len(resp2.Patch) != 0 {
		t.Errorf("second pass changed the pod: %s %s", diff, resp2.Patch)
	}
}

func TestReviewWithImageLookupFixedRootUID(t *testing.T) {
	reg := newImageRegistry(t)
	uid := int64(65534)
	h := lookupHandler(t, reg.Registry, imagelookup.Config{RootImageRunAsUser: &uid})
	got, _ := review(t, h, context.Background(), at.Pod(reg.threeImages))
	if sc := got.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod-level runAsNonRoot not set once the root image has a UID: %+v", sc)
	}
	if sc := got.Spec.InitContainers[0].SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != uid {
		t.Errorf("root image container: %+v, want runAsUser %d", sc, uid)
	}
}

// TestReviewRegistryFailures: a registry that fails or stalls never fails
// the review; the pod gets what it gets with lookup off, plus a warning, and
// the answer comes within the review's deadline.
func TestReviewRegistryFailures(t *testing.T) {
	cases := []struct {
		name string
		gate func(*http.Request) (int, bool)
		says string
	}{
		{name: "500", gate: func(*http.Request) (int, bool) { return http.StatusInternalServerError, false }, says: "500"},
		{name: "401", gate: func(*http.Request) (int, bool) { return http.StatusUnauthorized, false }, says: "401"},
		{name: "stall", gate: func(*http.Request) (int, bool) { return 0, true }, says: "did not answer in time"},
	}
	off := admission.NewHandler(nil, nil)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := newImageRegistry(t)
			reg.Gate(tc.gate)
			h := lookupHandler(t, reg.Registry, imagelookup.Config{Timeout: time.Minute})
			// The lookups get the review's time less a tenth: with 10 s the
			// rules keep 1 s, which a loaded machine does not eat (with 2 s,
			// 200 ms sometimes was not enough, and the review timed out).
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			deadline, _ := ctx.Deadline()
			pod := at.Pod(reg.threeImages)
			got, resp := review(t, h, ctx, pod)
			if now := time.Now(); !now.Before(deadline) {
				t.Errorf("answered %s after the review's deadline", now.Sub(deadline))
			}
			want, _ := review(t, off, context.Background(), pod)
			if same, diff := at.SamePod(want, got); !same {
				t.Errorf("the pod differs from lookup off: %s", diff)
			}
			if n := strings.Count(strings.Join(resp.Warnings, "\n"), tc.says); n != 3 {
				t.Errorf("warnings %q: want one per container saying %q", resp.Warnings, tc.says)
			}
		})
	}
}

// TestEphemeralUpdateLooksUpNewContainersOnly: on the ephemeralcontainers
// subresource only the ephemeral containers the update adds are looked up,
// the ones the rules default; the running pod's images are not asked for.
func TestEphemeralUpdateLooksUpNewContainersOnly(t *testing.T) {
	reg := newImageRegistry(t)
	// The running pod's images fail: looking one up would warn.
	reg.Gate(func(r *http.Request) (int, bool) {
		if strings.Contains(r.URL.Path, "/root/") || strings.Contains(r.URL.Path, "/numeric/") {
			return http.StatusInternalServerError, false
		}
		return 0, false
	})
	h := lookupHandler(t, reg.Registry, imagelookup.Config{})
	old := at.Pod(reg.threeImages)
	pod := at.Pod(reg.threeImages, func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: reg.named}}}
	})
	raw := at.RawPod(pod)
	out, err := h.Review(context.Background(), at.Review(at.Request{
		Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: admission.SubresourceEphemeralContainers,
		Object: raw, OldObject: at.RawPod(old),
	}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := at.ApplyResponse(raw, resp)
	if err != nil {
		t.Fatal(err)
	}
	if sc := got.Spec.EphemeralContainers[0].SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 1000 {
		t.Errorf("new ephemeral container: %+v, want runAsUser 1000 from its image", sc)
	}
	if w := strings.Join(resp.Warnings, "\n"); strings.Contains(w, "500") || strings.Contains(w, "not known") {
		t.Errorf("the running pod's images were looked up: %q", resp.Warnings)
	}
}
