package admission_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
	"github.com/secure-defaults/secure-defaults/pkg/podsecurity"
)

// recorder is a metrics.Recorder that remembers what it was told.
type recorder struct {
	mu       sync.Mutex
	reviews  []observed
	rejected int
	skipped  []skipped
}

type skipped struct {
	rules, containerReasons []string
}

type observed struct {
	operation string
	result    metrics.Result
	applied   []string
}

func (r *recorder) ObserveReview(op string, res metrics.Result, applied []string, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reviews = append(r.reviews, observed{op, res, applied})
}

func (r *recorder) ObserveRejected() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rejected++
}

func (r *recorder) ObserveSkipped(rules, containerReasons []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skipped = append(r.skipped, skipped{rules, containerReasons})
}

var configMaps = metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}

func withRootContainer(p *corev1.Pod) {
	zero := int64(0)
	p.Spec.Containers = append(p.Spec.Containers, corev1.Container{
		Name: "root", Image: "registry.example/root:1",
		SecurityContext: &corev1.SecurityContext{RunAsUser: &zero},
	})
}

// TestReviewInScope sends well-formed reviews and checks the answer against
// what the rules themselves do: the patch, applied to the raw object with
// the API server's JSON patch library, gives exactly the pod defaults.Apply
// (or ApplyEphemeral) returns.
func TestReviewInScope(t *testing.T) {
	running := at.Hardened(at.Pod(at.WithEphemeral("debug-1")))
	ephemeralOld := at.RawPod(running)
	ephemeralNew := at.Pod(at.WithEphemeral("debug-1"), at.WithEphemeral("debug-2"))
	ephemeralNew.ObjectMeta = running.ObjectMeta
	ephemeralNew.Spec = *running.Spec.DeepCopy()
	at.WithEphemeral("debug-2")(ephemeralNew)

	tests := []struct {
		name       string
		req        at.Request
		wantResult metrics.Result
		// want returns the pod the rules make of the request's object and
		// what they did.
		want func(obj *corev1.Pod) defaults.Result
	}{
		{
			name:       "plain pod is mutated",
			req:        at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())},
			wantResult: metrics.ResultMutated,
			want:       at.Apply,
		},
		{
			name:       "dry-run is mutated the same way",
			req:        at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod()), DryRun: true},
			wantResult: metrics.ResultMutated,
			want:       at.Apply,
		},
		{
			name:       "root container: mutated with a warning",
			req:        at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(withRootContainer))},
			wantResult: metrics.ResultMutated,
			want:       at.Apply,
		},
		{
			name:       "already hardened pod is unchanged",
			req:        at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Hardened(at.Pod()))},
			wantResult: metrics.ResultUnchanged,
			want:       at.Apply,
		},
		{
			name:       "opted-out pod is skipped",
			req:        at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(at.OptedOut))},
			wantResult: metrics.ResultSkipped,
			want:       at.Apply,
		},
		{
			name: "new ephemeral container is mutated",
			req: at.Request{Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: admission.SubresourceEphemeralContainers,
				Object: at.RawPod(ephemeralNew), OldObject: ephemeralOld},
			wantResult: metrics.ResultMutated,
			want: func(p *corev1.Pod) defaults.Result {
				return defaults.ApplyEphemeral(p, running.Spec.EphemeralContainers, defaults.Options{})
			},
		},
		{
			name: "pod update is skipped",
			req: at.Request{Operation: admissionv1.Update, Resource: at.PodsResource,
				Object: at.RawPod(at.Pod()), OldObject: at.RawPod(at.Pod())},
			wantResult: metrics.ResultSkipped,
		},
		{
			name: "pod status update is skipped",
			req: at.Request{Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: "status",
				Object: at.RawPod(at.Pod()), OldObject: at.RawPod(at.Pod())},
			wantResult: metrics.ResultSkipped,
		},
		{
			name:       "pod delete is skipped",
			req:        at.Request{Operation: admissionv1.Delete, Resource: at.PodsResource, OldObject: at.RawPod(at.Pod())},
			wantResult: metrics.ResultSkipped,
		},
		{
			name: "configmap is skipped",
			req: at.Request{Operation: admissionv1.Create, Resource: configMaps, Kind: metav1.GroupVersionKind{Version: "v1", Kind: "ConfigMap"},
				Object: []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"a":"b"}}`)},
			wantResult: metrics.ResultSkipped,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := admission.NewHandler(rec, nil)
			tt.req.UID = "uid-" + strings.ReplaceAll(tt.name, " ", "-")
			out, err := h.Review(context.Background(), at.Review(tt.req))
			if err != nil {
				t.Fatalf("Review: %v", err)
			}
			resp, err := at.DecodeResponse(out)
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.UID) != tt.req.UID {
				t.Errorf("uid = %q, want %q", resp.UID, tt.req.UID)
			}
			if !resp.Allowed || resp.Result != nil {
				t.Fatalf("allowed = %v, status = %+v; want allowed without status", resp.Allowed, resp.Result)
			}

			raw := tt.req.Object
			if raw == nil {
				raw = tt.req.OldObject
			}
			var want *corev1.Pod
			var wantRes defaults.Result
			if tt.want != nil {
				got, _, err := at.ApplyResponse(raw, resp)
				if err != nil {
					t.Fatal(err)
				}
				want, _, err = at.ApplyResponse(raw, &admissionv1.AdmissionResponse{})
				if err != nil {
					t.Fatal(err)
				}
				wantRes = tt.want(want)
				if ok, diff := at.SamePod(got, want); !ok {
					t.Errorf("patched pod differs from the rules' output:\n%s", diff)
				}
			} else if len(resp.Patch) > 0 || resp.PatchType != nil {
				t.Errorf("out-of-scope request got a patch: %s", resp.Patch)
			}

			switch tt.wantResult {
			case metrics.ResultMutated:
				// The fixture must really need defaults, or this case tests nothing.
				if !wantRes.Changed() || len(resp.Patch) == 0 {
					t.Fatalf("expected a mutation: rules applied %v, patch %q", wantRes.Applied, resp.Patch)
				}
				if got, want := resp.AuditAnnotations[admission.AuditAnnotationDefaulted], strings.Join(wantRes.Applied, ","); got != want {
					t.Errorf("audit annotation %q = %q, want %q", admission.AuditAnnotationDefaulted, got, want)
				}
				if !strings.Contains(string(out), `"patchType":"JSONPatch"`) {
					t.Errorf("answer lacks patchType JSONPatch: %s", out)
				}
			default:
				if len(resp.Patch) > 0 || len(resp.AuditAnnotations) > 0 {
					t.Errorf("unexpected patch %q / audit annotations %v", resp.Patch, resp.AuditAnnotations)
				}
			}
			// The rules' warnings, then the Pod Security self-check's on the
			// pod as the rules left it.
			wantWarnings := wantRes.Warnings
			if want != nil && !wantRes.OptedOut {
				if w := podsecurity.Warning(want); w != "" {
					wantWarnings = append(wantWarnings, w)
				}
			}
			if strings.Join(resp.Warnings, "\n") != strings.Join(wantWarnings, "\n") {
				t.Errorf("warnings = %q, want %q", resp.Warnings, wantWarnings)
			}

			if len(rec.reviews) != 1 || rec.rejected != 0 {
				t.Fatalf("metrics: %d reviews, %d rejected; want 1 review", len(rec.reviews), rec.rejected)
			}
			o := rec.reviews[0]
			if o.operation != string(tt.req.Operation) || o.result != tt.wantResult || strings.Join(o.applied, ",") != strings.Join(wantRes.Applied, ",") {
				t.Errorf("metrics observed %+v, want operation %s result %s rules %v", o, tt.req.Operation, tt.wantResult, wantRes.Applied)
			}
		})
	}
}

// TestReviewRootContainerWarns checks that the warning for a container that
// runs as root reaches the user.
func TestReviewRootContainerWarns(t *testing.T) {
	h := admission.NewHandler(nil, nil)
	out, err := h.Review(context.Background(), at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(withRootContainer))}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Warnings) == 0 || !strings.Contains(strings.Join(resp.Warnings, " "), "root") {
		t.Errorf("warnings = %q, want one about the root container", resp.Warnings)
	}
}

func TestReviewKeepsRawFields(t *testing.T) {
	h := admission.NewHandler(nil, nil)
	raw := at.RawPod(at.Pod())
	out, err := h.Review(context.Background(), at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: raw}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	_, patched, err := at.ApplyResponse(raw, resp)
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []string{`"x-unknown-field":{"kept":true}`, `"resources":{}`} {
		if !strings.Contains(string(patched), keep) {
			t.Errorf("patched object lost %s: %s", keep, patched)
		}
	}
}

// TestReviewBadInput: every malformed body is an error naming the problem;
// every decodable review with a bad object is an errored response with the
// request's UID and a message naming the problem.
func TestReviewBadInput(t *testing.T) {
	const head = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"CREATE","resource":{"group":"","version":"v1","resource":"pods"},`
	valid := string(at.Review(at.Request{UID: "u1", Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}))
	tests := []struct {
		name     string
		body     string
		wantErr  string // the body is not a review: Review returns an error with this text
		wantCode int32  // else: an errored response with this code
		wantMsg  string // and this text in its message
	}{
		{name: "empty body", body: "", wantErr: "request body is empty"},
		{name: "whitespace body", body: " \n\t", wantErr: "request body is empty"},
		{name: "not JSON", body: "hello", wantErr: "decoding the request body"},
		{name: "truncated JSON", body: valid[:len(valid)/2], wantErr: "unexpected end of JSON input"},
		{name: "JSON null", body: "null", wantErr: `expected apiVersion "admission.k8s.io/v1" kind "AdmissionReview"`},
		{name: "JSON array", body: "[]", wantErr: "decoding the request body"},
		{name: "trailing garbage", body: valid + "}", wantErr: "decoding the request body"},
		{name: "no request", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, wantErr: "the review has no request"},
		{name: "request null", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`, wantErr: "the review has no request"},
		{name: "request mistyped", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":"pod"}`, wantErr: "decoding the request body"},
		{name: "v1beta1 review", body: strings.Replace(valid, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1), wantErr: "admissionReviewVersions"},
		{name: "no uid", body: strings.Replace(valid, `"uid":"u1"`, `"uid":""`, 1), wantErr: "request.uid is empty"},
		{name: "100,000 nested brackets", body: head + `"object":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`, wantErr: "exceeded max depth"},
		{name: "100,000 unclosed brackets", body: strings.Repeat("[", 100000), wantErr: "exceeded max depth"},
		{name: "object missing", body: head + `"kind":{"version":"v1","kind":"Pod"}}}`, wantCode: http.StatusBadRequest, wantMsg: "request.object is empty"},
		{name: "object null", body: head + `"object":null}}`, wantCode: http.StatusBadRequest, wantMsg: "request.object is empty"},
		{name: "object a number", body: head + `"object":42}}`, wantCode: http.StatusBadRequest, wantMsg: "decoding request.object as a v1 Pod"},
		{name: "object spec a string", body: head + `"object":{"apiVersion":"v1","kind":"Pod","spec":"nope"}}}`, wantCode: http.StatusBadRequest, wantMsg: "decoding request.object as a v1 Pod"},
		{name: "object containers mistyped", body: head + `"object":{"apiVersion":"v1","kind":"Pod","spec":{"containers":{"name":"a"}}}}}`, wantCode: http.StatusBadRequest, wantMsg: "decoding request.object as a v1 Pod"},
		{name: "object without containers", body: head + `"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"}}}}`, wantCode: http.StatusBadRequest, wantMsg: "has no spec.containers"},
		{name: "object is a Deployment", body: head + `"object":{"apiVersion":"apps/v1","kind":"Deployment","spec":{"containers":[{"name":"a"}]}}}}`, wantCode: http.StatusBadRequest, wantMsg: "expected a v1 Pod"},
		{name: "ephemeral update without oldObject", body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","operation":"UPDATE","subResource":"ephemeralcontainers","resource":{"version":"v1","resource":"pods"},"object":{"apiVersion":"v1","kind":"Pod","spec":{"containers":[{"name":"a"}]}}}}`,
			wantCode: http.StatusBadRequest, wantMsg: "request.oldObject is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			h := admission.NewHandler(rec, nil)
			out, err := h.Review(context.Background(), []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Review returned an answer, want an error containing %q: %s", tt.wantErr, out)
				}
				if !errors.Is(err, admission.ErrMalformedReview) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want ErrMalformedReview containing %q", err, tt.wantErr)
				}
				if len(rec.reviews) != 0 {
					t.Errorf("undecodable body recorded as a review: %+v", rec.reviews)
				}
				return
			}
			if err != nil {
				t.Fatalf("Review: %v", err)
			}
			resp, err := at.DecodeResponse(out)
			if err != nil {
				t.Fatal(err)
			}
			if resp.UID != "u1" || resp.Allowed || resp.Result == nil {
				t.Fatalf("response = %+v, want a denial for uid u1", resp)
			}
			if resp.Result.Code != tt.wantCode || !strings.Contains(resp.Result.Message, tt.wantMsg) {
				t.Errorf("status = %d %q, want %d containing %q", resp.Result.Code, resp.Result.Message, tt.wantCode, tt.wantMsg)
			}
			if len(resp.Patch) > 0 {
				t.Errorf("errored response has a patch")
			}
			if len(rec.reviews) != 1 || rec.reviews[0].result != metrics.ResultError {
				t.Errorf("metrics = %+v, want one review with result error", rec.reviews)
			}
		})
	}
}

func TestReviewDeadlinePassed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h := admission.NewHandler(nil, nil)
	out, err := h.Review(ctx, at.Review(at.Request{UID: "late", Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if resp.UID != "late" || resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusGatewayTimeout {
		t.Errorf("response = %+v, want a 504 denial for uid late", resp)
	}
}

func TestReviewPanicIsErroredResponse(t *testing.T) {
	rec := &recorder{}
	h := admission.NewHandler(rec, nil)
	h.SetApply(func(*corev1.Pod, defaults.Options) defaults.Result { panic("boom") })
	out, err := h.Review(context.Background(), at.Review(at.Request{UID: "p1", Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if resp.UID != "p1" || resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusInternalServerError || !strings.Contains(resp.Result.Message, "boom") {
		t.Errorf("response = %+v, want a 500 denial naming the panic", resp)
	}
	if len(rec.reviews) != 1 || rec.reviews[0].result != metrics.ResultError {
		t.Errorf("metrics = %+v, want one error", rec.reviews)
	}
}
