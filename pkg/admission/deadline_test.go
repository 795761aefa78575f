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

// TestAuditNeverDenies: what makes Review answer an errored response (a
// deadline that passes inside the rules or before them, an object that is
// not a pod) makes Audit allow the pod unchanged with a warning that says
// why: allowed: false would deny the pod whatever failurePolicy says, and an
// audit never blocks a pod.
func TestAuditNeverDenies(t *testing.T) {
	many := make([]corev1.Container, 100)
	for i := range many {
		many[i] = corev1.Container{Name: "c" + strings.Repeat("x", i), Image: "registry.example/app:1"}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name   string
		ctx    func() context.Context
		object []byte
		want   string
	}{
		{"deadline inside the rules", func() context.Context {
			c := &endsAfter{Context: context.Background()}
			c.left.Store(3)
			return c
		}, at.RawPod(at.Pod(func(p *corev1.Pod) { p.Spec.Containers = many })), "deadline"},
		{"deadline before the rules", func() context.Context { return cancelled },
			at.RawPod(at.Pod()), "deadline"},
		{"not a pod", context.Background, []byte(`{"apiVersion":"v1","kind":"Pod","spec":{}}`), "no spec.containers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: tc.object})
			h := admission.NewHandler(nil, nil)
			out, err := h.Review(tc.ctx(), body)
			if err != nil {
				t.Fatal(err)
			}
			if resp, err := at.DecodeResponse(out); err != nil || resp.Allowed {
				t.Fatalf("Review answered %+v (%v), want a denial: the case must be one Review errors on", resp, err)
			}
			out, err = h.Audit(tc.ctx(), body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := at.DecodeResponse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil || resp.Result != nil {
				t.Fatalf("Audit answered %+v, want the pod allowed unchanged", resp)
			}
			if len(resp.Warnings) != 1 || !strings.Contains(resp.Warnings[0], "could not audit") || !strings.Contains(resp.Warnings[0], tc.want) {
				t.Errorf("warnings %q, want one saying the audit failed and naming %q", resp.Warnings, tc.want)
			}
		})
	}
}
