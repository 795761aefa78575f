package admission_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
)

// benchReviewFile is a review of a Deployment's pod as a real API server sends
// it: three containers, managedFields, the projected service-account token
// volume and the default tolerations (about 5 KB once compact).
const benchReviewFile = "review-deployment-pod.json"

// benchCase is one fixture of the review benchmarks. envVars > 0 gives the
// first container that many env vars, for the large review and the scaling
// check.
type benchCase struct {
	name    string
	envVars int
}

// benchCases are the fixtures every review benchmark runs on, in the order
// hack/bench.sh reports them: the realistic review, then the same pod with
// growing env lists (env=1000 is the "large" review).
var benchCases = []benchCase{
	{"pod=deployment", 0},
	{"pod=env10", 10},
	{"pod=env100", 100},
	{"pod=env1000", 1000},
	{"pod=env5000", 5000},
}

// benchReview returns the compact review bytes of c.
func benchReview(tb testing.TB, c benchCase) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", benchReviewFile))
	if err != nil {
		tb.Fatal(err)
	}
	var review map[string]any
	if err := json.Unmarshal(raw, &review); err != nil {
		tb.Fatalf("%s: %v", benchReviewFile, err)
	}
	if c.envVars > 0 {
		req := review["request"].(map[string]any)
		spec := req["object"].(map[string]any)["spec"].(map[string]any)
		first := spec["containers"].([]any)[0].(map[string]any)
		env := make([]any, 0, c.envVars)
		for i := range c.envVars {
			env = append(env, map[string]any{"name": fmt.Sprintf("SETTING_%05d", i), "value": fmt.Sprintf("value of setting %d", i)})
		}
		first["env"] = env
	}
	out, err := json.Marshal(review)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// benchHandler is the handler as `serve` builds it: Prometheus metrics and a
// JSON logger at the default (info) level.
func benchHandler() *admission.Handler {
	return admission.NewHandler(metrics.New("bench", "bench"), slog.New(slog.NewJSONHandler(io.Discard, nil)))
}

// TestBenchFixtures checks that the benchmarks measure real work: every
// fixture is a pod the rules change, and the answer's patch turns the raw
// object into exactly what defaults.Apply makes of it.
func TestBenchFixtures(t *testing.T) {
	h := benchHandler()
	for _, c := range benchCases {
		t.Run(c.name, func(t *testing.T) {
			body := benchReview(t, c)
			out, err := h.Review(context.Background(), body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := at.DecodeResponse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Allowed || resp.Patch == nil {
				t.Fatalf("want an allowed, patched answer, got %+v", resp)
			}
			var review admissionv1.AdmissionReview
			if err := json.Unmarshal(body, &review); err != nil {
				t.Fatal(err)
			}
			got, _, err := at.ApplyResponse(review.Request.Object.Raw, resp)
			if err != nil {
				t.Fatal(err)
			}
			want := &corev1.Pod{}
			if err := json.Unmarshal(review.Request.Object.Raw, want); err != nil {
				t.Fatal(err)
			}
			if res := defaults.Apply(want, defaults.Options{}); !res.Changed() {
				t.Fatal("the rules left the fixture unchanged")
			}
			if !apiequality.Semantic.DeepEqual(got, want) {
				t.Errorf("patched pod differs from defaults.Apply's output")
			}
			if n := len(got.Spec.Containers[0].Env); n != c.envVars && c.envVars > 0 {
				t.Errorf("fixture has %d env vars, want %d", n, c.envVars)
			}
		})
	}
}

// BenchmarkReview measures the whole review path, request bytes in and
// response bytes out through the function the HTTP handler calls
// (path=handler), beside the floor (path=floor): the unavoidable cost of
// answering the same review, which decodes the review and the pod with
// encoding/json and encodes an allowed response with no patch. Both run for
// each fixture in turn, so drift on a busy machine hits them alike;
// handler/floor is the webhook's overhead.
func BenchmarkReview(b *testing.B) {
	h := benchHandler()
	ctx := context.Background()
	for _, c := range benchCases {
		body := benchReview(b, c)
		b.Run(c.name+"/path=handler", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Review(ctx, body); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/path=floor", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if err := floor(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// floor decodes the review and its pod and encodes an allowed answer.
func floor(body []byte) error {
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(body, &review); err != nil {
		return err
	}
	var pod corev1.Pod
	if err := json.Unmarshal(review.Request.Object.Raw, &pod); err != nil {
		return err
	}
	out := admissionv1.AdmissionReview{TypeMeta: review.TypeMeta, Response: &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}}
	_, err := json.Marshal(out)
	return err
}
