package admission_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
)

// FuzzReview feeds arbitrary bodies to the handler. It must never panic, and
// must either refuse the body with ErrMalformedReview or answer a v1
// AdmissionReview carrying the request's UID; an answer that admits with a
// patch must apply cleanly to the object the request carried.
func FuzzReview(f *testing.F) {
	pod := at.Pod(withRootContainer, at.WithEphemeral("dbg"))
	seeds := [][]byte{
		at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}),
		at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(pod), DryRun: true}),
		at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(at.OptedOut))}),
		at.Review(at.Request{Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: admission.SubresourceEphemeralContainers,
			Object: at.RawPod(at.Pod(at.WithEphemeral("a"), at.WithEphemeral("b"))), OldObject: at.RawPod(at.Pod(at.WithEphemeral("a")))}),
		at.Review(at.Request{Operation: admissionv1.Create, Resource: configMaps, Object: []byte(`{"data":{}}`)}),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","resource":{"resource":"pods"},"object":{"metadata":{"name":"p"},"spec":{"containers":[{"name":"a","securityContext":null}],"securityContext":{"runAsUser":0}}}}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","resource":{"resource":"pods"},"object":{"metadata":{"annotations":null},"spec":{"os":{"name":"windows"},"containers":[{"name":"a","securityContext":{"readOnlyRootFilesystem":true}}]}}}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":null}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		[]byte(`[[[[[[`),
		[]byte(``),
		[]byte(`null`),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	h := admission.NewHandler(nil, nil)
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := h.Review(context.Background(), body)
		if err != nil {
			if !errors.Is(err, admission.ErrMalformedReview) || err.Error() == "" {
				t.Fatalf("error %v does not wrap ErrMalformedReview", err)
			}
			return
		}
		var in admissionv1.AdmissionReview
		if err := utiljson.Unmarshal(body, &in); err != nil || in.Request == nil {
			t.Fatalf("answered a body that does not decode as a review (%v)", err)
		}
		resp, err := at.DecodeResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		if resp.UID != in.Request.UID {
			t.Fatalf("uid %q, want %q", resp.UID, in.Request.UID)
		}
		if !resp.Allowed {
			if resp.Result == nil || strings.TrimSpace(resp.Result.Message) == "" || len(resp.Patch) > 0 {
				t.Fatalf("denial without a message, or with a patch: %+v", resp)
			}
			return
		}
		// The API server always sends an object with metadata; the patch is
		// computed from the typed pod, which always has it, so only such
		// objects can be patched as they are.
		var obj struct {
			Metadata map[string]any `json:"metadata"`
		}
		if len(resp.Patch) > 0 && utiljson.Unmarshal(in.Request.Object.Raw, &obj) == nil && obj.Metadata != nil {
			if _, _, err := at.ApplyResponse(in.Request.Object.Raw, resp); err != nil {
				t.Fatalf("patch does not apply: %v", err)
			}
		}
	})
}
