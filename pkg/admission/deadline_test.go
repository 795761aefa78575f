package admission_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
)

// endsAfter is a context whose deadline passes after a number of Err calls:
// the review starts in time and the deadline passes inside the rules, with
// nothing timed.
type endsAfter struct {
	context.Context
	left atomic.Int64
}

func (c *endsAfter) Err() error {
	if c.left.Add(-1) < 0 {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *endsAfter) Deadline() (time.Time, bool) { return time.Time{}, false }

// TestDeadlineInsideTheRules: a review whose deadline passes while the rules
// run is answered at once with an errored response (504), not a patch of a
// half-defaulted pod.
func TestDeadlineInsideTheRules(t *testing.T) {
	ctx := &endsAfter{Context: context.Background()}
	ctx.left.Store(3)
	cs := make([]corev1.Container, 100)
	for i := range cs {
		cs[i] = corev1.Container{Name: "c" + strings.Repeat("x", i), Image: "registry.example/app:1"}
	}
	pod := at.Pod(func(p *corev1.Pod) { p.Spec.Containers = cs })
	h := admission.NewHandler(nil, nil)
	out, err := h.Review(ctx, at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(pod)}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := at.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Allowed || resp.Patch != nil || resp.Result == nil || resp.Result.Code != http.StatusGatewayTimeout || !strings.Contains(resp.Result.Message, "deadline") {
		t.Errorf("response %+v, want an errored 504 naming the deadline and no patch", resp)
	}
}
