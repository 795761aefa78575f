package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/server"
)

// TestBadInput sends malformed requests. Each gets a 4xx with a message that
// names the problem, or (when the review decodes) a 200 denial with one; the
// server answers the next good request either way.
func TestBadInput(t *testing.T) {
	ts := start(t, setup{})
	c := ts.client(true)
	good := at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})
	const head = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bad-1","operation":"CREATE","resource":{"version":"v1","resource":"pods"},`
	huge := append([]byte(head+`"object":{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"a":"`), bytes.Repeat([]byte("x"), server.DefaultMaxRequestBytes)...)
	huge = append(huge, `"}},"spec":{"containers":[{"name":"a"}]}}}}`...)

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        io.Reader // nil: use raw
		raw         []byte
		wantStatus  int
		wantText    string // in the body (4xx) or in response.status.message (200)
		wantCode    int32  // for 200: the AdmissionResponse's status code
	}{
		{name: "empty body", raw: nil, wantStatus: 400, wantText: "request body is empty"},
		{name: "not JSON", raw: []byte("this is not json"), wantStatus: 400, wantText: "decoding the request body"},
		{name: "truncated JSON", raw: good[:len(good)/2], wantStatus: 400, wantText: "unexpected end of JSON input"},
		{name: "wrong content type", contentType: "text/plain", raw: good, wantStatus: 415, wantText: "Content-Type must be application/json"},
		{name: "no content type", contentType: "-", raw: good, wantStatus: 415, wantText: "Content-Type must be application/json"},
		{name: "no request", raw: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantStatus: 400, wantText: "the review has no request"},
		{name: "null object", raw: []byte(head + `"object":null}}`), wantStatus: 200, wantCode: 400, wantText: "request.object is empty"},
		{name: "mistyped object", raw: []byte(head + `"object":{"apiVersion":"v1","kind":"Pod","spec":{"containers":"all of them"}}}}`), wantStatus: 200, wantCode: 400, wantText: "decoding request.object as a v1 Pod"},
		{name: "100,000 nested brackets", raw: []byte(head + `"object":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}}`), wantStatus: 400, wantText: "exceeded max depth"},
		{name: "body over the limit", raw: huge, wantStatus: 413, wantText: "exceeds the limit of 8388608 bytes"},
		{name: "body over the limit, chunked", body: io.MultiReader(bytes.NewReader(huge)), wantStatus: 413, wantText: "exceeds the limit of 8388608 bytes"},
		{name: "GET", method: http.MethodGet, wantStatus: 405},
		{name: "unknown path", path: "/validate", raw: good, wantStatus: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, url, ct := http.MethodPost, ts.url(), "application/json"
			if tt.method != "" {
				method = tt.method
			}
			if tt.path != "" {
				url = strings.TrimSuffix(url, "/mutate") + tt.path
			}
			body := tt.body
			if body == nil {
				body = bytes.NewReader(tt.raw)
			}
			req, err := http.NewRequestWithContext(context.Background(), method, url, body)
			if err != nil {
				t.Fatal(err)
			}
			switch tt.contentType {
			case "":
				req.Header.Set("Content-Type", ct)
			case "-":
			default:
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("request failed instead of an HTTP answer: %v", err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, got)
			}
			if tt.wantStatus == http.StatusOK {
				ar, err := at.DecodeResponse(got)
				if err != nil {
					t.Fatal(err)
				}
				if ar.UID != "bad-1" || ar.Allowed || ar.Result == nil || ar.Result.Code != tt.wantCode || !strings.Contains(ar.Result.Message, tt.wantText) {
					t.Errorf("response %+v, want a %d denial for uid bad-1 containing %q", ar, tt.wantCode, tt.wantText)
				}
			} else if !strings.Contains(string(got), tt.wantText) {
				t.Errorf("body %q does not say %q", got, tt.wantText)
			}

			// The server still answers a good review, on a fresh client too.
			for _, client := range []*http.Client{c, ts.client(false)} {
				r, err := post(client, ts.url(), "application/json", good)
				if err != nil || r.status != http.StatusOK {
					t.Fatalf("good review after %q: status %d, err %v", tt.name, r.status, err)
				}
				if ar, err := at.DecodeResponse(r.body); err != nil || !ar.Allowed || len(ar.Patch) == 0 {
					t.Fatalf("good review after %q: %+v, %v", tt.name, ar, err)
				}
			}
		})
	}
}

// panicky is a Reviewer that panics.
type panicky struct{}

func (panicky) Review(context.Context, []byte) ([]byte, error) { panic("reviewer bug") }

// TestReviewerPanic checks that a panic that escapes the Reviewer gets a 500
// and leaves the server and the connection usable: it sends more panicking
// reviews than there are review slots, so a slot a panic failed to give back
// would turn the later ones into 429 "too many reviews in flight", and then
// wants no body bytes still charged.
func TestReviewerPanic(t *testing.T) {
	const slots = 2
	ts := start(t, setup{reviewer: panicky{}, tweak: func(o *server.Options) { o.MaxReviewsInFlight = slots }})
	c := ts.client(true)
	for i := 0; i < 2*slots+1; i++ {
		r, err := post(c, ts.url(), "application/json", []byte(`{}`))
		if err != nil {
			t.Fatalf("request %d: the connection was dropped: %v", i, err)
		}
		if r.status != http.StatusInternalServerError || !strings.Contains(string(r.body), "internal error") {
			t.Errorf("request %d: status %d %q, want 500 internal error", i, r.status, r.body)
		}
	}
	if got := ts.BytesInFlight(); got != 0 {
		t.Errorf("bytes in flight %d after every review panicked, want 0", got)
	}
}

// deadlineReviewer records the deadline of the context it is given.
type deadlineReviewer struct{ got chan time.Time }

func (d deadlineReviewer) Review(ctx context.Context, _ []byte) ([]byte, error) {
	dl, _ := ctx.Deadline()
	d.got <- dl
	return []byte(`{}`), nil
}

// TestTimeoutParameter checks that ?timeout= bounds the review's context,
// capped at the API server's 30 s maximum, and that a bad value is ignored.
func TestTimeoutParameter(t *testing.T) {
	d := deadlineReviewer{got: make(chan time.Time, 1)}
	ts := start(t, setup{reviewer: d})
	c := ts.client(true)
	tests := []struct {
		query string
		want  time.Duration // 0: no deadline
	}{
		{"?timeout=2s", 2 * time.Second},
		{"?timeout=45s", 30 * time.Second},
		{"?timeout=soon", 0},
		{"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			sent := time.Now()
			if r, err := post(c, ts.url()+tt.query, "application/json", []byte(`{}`)); err != nil || r.status != http.StatusOK {
				t.Fatalf("status %d, %v", r.status, err)
			}
			answered := time.Now()
			dl := <-d.got
			switch {
			case tt.want == 0:
				if !dl.IsZero() {
					t.Errorf("deadline %v set, want none", dl)
				}
			// The handler set its deadline between send and answer.
			case dl.Before(sent.Add(tt.want)) || dl.After(answered.Add(tt.want)):
				t.Errorf("deadline %v after send, want %v", dl.Sub(sent), tt.want)
			}
		})
	}
}
