package admission_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
)

// TestAuditMatchesEnabled sends the same pods to Review (an enabled
// namespace) and Audit (an audit namespace): audit never patches, its
// would-default list is exactly what enabled applied, it says in a warning
// each value enabled's patch sets, and it keeps the rules' own warnings.
func TestAuditMatchesEnabled(t *testing.T) {
	ro := func(p *corev1.Pod) {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptrTo(true)}
	}
	running := at.Hardened(at.Pod(at.WithEphemeral("debug-1")))
	debugged := running.DeepCopy()
	at.WithEphemeral("debug-2")(debugged)
	cases := []struct {
		name string
		req  at.Request
		opts defaults.Options
	}{
		{name: "plain pod", req: at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}},
		{name: "read-only root, root container", req: at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(ro, withRootContainer))}},
		{name: "rules off and a container excluded", opts: defaults.Options{Rules: map[string]bool{"seccomp-runtime-default": false}, ExcludeContainers: []string{"root"}},
			req: at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(withRootContainer))}},
		{name: "hardened pod", req: at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Hardened(at.Pod()))}},
		{name: "opted-out pod", req: at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(at.OptedOut))}},
		{name: "new ephemeral container", req: at.Request{Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: admission.SubresourceEphemeralContainers,
			Object: at.RawPod(debugged), OldObject: at.RawPod(running)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.UID = "u"
			recE, recA := &recorder{}, &recorder{}
			enabled, audit := admission.NewHandler(recE, nil), admission.NewHandler(recA, nil)
			enabled.SetOptions(func() defaults.Options { return tc.opts })
			audit.SetOptions(func() defaults.Options { return tc.opts })
			e := answer(t, enabled.Review, tc.req)
			a := answer(t, audit.Audit, tc.req)

			if len(a.Patch) > 0 || a.PatchType != nil || !a.Allowed {
				t.Fatalf("audit patched or denied: allowed %v, patch %s", a.Allowed, a.Patch)
			}
			applied := e.AuditAnnotations[admission.AuditAnnotationDefaulted]
			if got := a.AuditAnnotations[admission.AuditAnnotationWouldDefault]; got != applied {
				t.Errorf("would-default %q, enabled applied %q", got, applied)
			}
			if _, ok := a.AuditAnnotations[admission.AuditAnnotationDefaulted]; ok {
				t.Error("audit answer claims the pod was defaulted")
			}
			// Every value enabled's patch sets has its "would" warning, and
			// every other warning of enabled is in audit's answer too.
			want := wouldLines(t, tc.req, e)
			var would, rest []string
			for _, w := range a.Warnings {
				if strings.HasPrefix(w, "would ") {
					would = append(would, w)
				} else {
					rest = append(rest, w)
				}
			}
			if d := cmp.Diff(want, would); d != "" {
				t.Errorf("would warnings (-from enabled's patch +audit):\n%s", d)
			}
			if d := cmp.Diff(e.Warnings, rest); d != "" {
				t.Errorf("other warnings (-enabled +audit):\n%s", d)
			}
			// Metrics: audited, with the same rules.
			if len(recA.reviews) != 1 || recA.reviews[0].result != metrics.ResultAudited {
				t.Fatalf("audit metrics %+v, want one audited review", recA.reviews)
			}
			if d := cmp.Diff(recE.reviews[0].applied, recA.reviews[0].applied); d != "" {
				t.Errorf("rules counted (-enabled +audit):\n%s", d)
			}
			if d := cmp.Diff(recE.skipped, recA.skipped, cmp.AllowUnexported(skipped{})); d != "" {
				t.Errorf("skips counted (-enabled +audit):\n%s", d)
			}
		})
	}
}

// wouldLines is what audit must say for enabled's answer: the values of the
// patch, outside metadata, found by applying it and comparing leaves.
func wouldLines(t *testing.T, req at.Request, e *admissionv1.AdmissionResponse) []string {
	t.Helper()
	if len(e.Patch) == 0 {
		return nil
	}
	pod, _, err := at.ApplyResponse(req.Object, e)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := admission.DescribePatch(e.Patch, pod)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) == 0 {
		t.Fatalf("a patch that changes the spec gives no would lines: %s", e.Patch)
	}
	return lines
}

func answer(t *testing.T, review func(context.Context, []byte) ([]byte, error), req at.Request) *admissionv1.AdmissionResponse {
	t.Helper()
	out, err := review(context.Background(), at.Review(req))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func ptrTo[T any](v T) *T { return &v }

func TestDescribePatch(t *testing.T) {
	pod := at.Pod(withRootContainer)
	pod.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	p := []byte(`[
{"op":"add","path":"/metadata/annotations","value":{"secure-defaults.dev/defaulted":"x"}},
{"op":"add","path":"/spec/securityContext","value":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}},
{"op":"add","path":"/spec/containers/1/securityContext/capabilities","value":{"drop":["ALL"]}},
{"op":"add","path":"/spec/initContainers/0/securityContext","value":{"allowPrivilegeEscalation":false}},
{"op":"add","path":"/spec/volumes/0","value":{"name":"tmp-app","emptyDir":{}}},
{"op":"add","path":"/spec/containers/0/volumeMounts/-","value":{"name":"tmp-app","mountPath":"/tmp"}}]`)
	got, err := admission.DescribePatch(p, pod)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"would set securityContext.runAsNonRoot: true on the pod",
		"would set securityContext.seccompProfile.type: RuntimeDefault on the pod",
		`would set securityContext.capabilities.drop: ["ALL"] on container "root"`,
		`would set securityContext.allowPrivilegeEscalation: false on init container "init"`,
		`would add to volumes {"name":"tmp-app","emptyDir":{}} on the pod`,
		`would add to volumeMounts {"name":"tmp-app","mountPath":"/tmp"} on container "app"`,
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}
