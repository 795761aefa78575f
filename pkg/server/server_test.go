package server_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
	"github.com/secure-defaults/secure-defaults/pkg/server"
)

// reviewCase is one well-formed review and what the rules make of it.
type reviewCase struct {
	name    string
	req     at.Request
	outcome string // mutated, unchanged, skipped
	// rules returns what the webhook must do to the decoded object; nil for
	// requests out of scope.
	rules func(*corev1.Pod) defaults.Result
}

func reviewCases() []reviewCase {
	running := at.Hardened(at.Pod(at.WithEphemeral("debug-1")))
	debugged := running.DeepCopy()
	at.WithEphemeral("debug-2")(debugged)
	return []reviewCase{
		{"mutated", at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}, "mutated", at.Apply},
		{"unchanged", at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Hardened(at.Pod()))}, "unchanged", at.Apply},
		{"opted out", at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(at.OptedOut))}, "skipped", at.Apply},
		{"ephemeral container", at.Request{Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: admission.SubresourceEphemeralContainers,
			Object: at.RawPod(debugged), OldObject: at.RawPod(running)}, "mutated",
			func(p *corev1.Pod) defaults.Result {
				return defaults.ApplyEphemeral(p, running.Spec.EphemeralContainers, defaults.Options{})
			}},
		{"non-pod resource", at.Request{Operation: admissionv1.Create, Resource: metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"},
			Kind: metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, Object: []byte(`{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"}}`)}, "skipped", nil},
		{"dry-run", at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod()), DryRun: true}, "mutated", at.Apply},
	}
}

// TestMutateOverTLS sends real reviews over HTTPS to a server with a freshly
// generated ECDSA or RSA certificate, applies each returned patch to the raw
// object and compares the result with what the rules do to a copy.
func TestMutateOverTLS(t *testing.T) {
	for _, kt := range []pki.KeyType{pki.ECDSA, pki.RSA} {
		t.Run(string(kt), func(t *testing.T) {
			ts := start(t, setup{keyType: kt})
			c := ts.client(true)
			for i, tc := range reviewCases() {
				t.Run(tc.name, func(t *testing.T) {
					tc.req.UID = "uid-" + string(kt) + "-" + string(rune('a'+i))
					r, err := post(c, ts.url()+"?timeout=10s", "application/json", at.Review(tc.req))
					if err != nil {
						t.Fatal(err)
					}
					if r.status != http.StatusOK || r.resp.Header.Get("Content-Type") != "application/json" {
						t.Fatalf("status %d, Content-Type %q: %s", r.status, r.resp.Header.Get("Content-Type"), r.body)
					}
					if r.resp.ProtoMajor != 1 || r.resp.TLS == nil || r.resp.TLS.Version < tls.VersionTLS12 {
						t.Errorf("served over %s, TLS %+v; want HTTP/1.1 over TLS >= 1.2", r.resp.Proto, r.resp.TLS)
					}
					resp, err := at.DecodeResponse(r.body)
					if err != nil {
						t.Fatal(err)
					}
					if string(resp.UID) != tc.req.UID || !resp.Allowed {
						t.Fatalf("uid %q allowed %v, want %q allowed", resp.UID, resp.Allowed, tc.req.UID)
					}
					got, _, err := at.ApplyResponse(tc.req.Object, resp)
					if err != nil {
						t.Fatal(err)
					}
					want, _, _ := at.ApplyResponse(tc.req.Object, &admissionv1.AdmissionResponse{})
					var res defaults.Result
					if tc.rules != nil {
						res = tc.rules(want)
					}
					if ok, diff := at.SamePod(got, want); !ok {
						t.Errorf("patched object differs from the rules' output:\n%s", diff)
					}
					mutated := len(resp.Patch) > 0
					switch tc.outcome {
					case "mutated":
						if !mutated || !res.Changed() {
							t.Errorf("want a patch: got %d bytes, rules applied %v", len(resp.Patch), res.Applied)
						}
						if resp.AuditAnnotations[admission.AuditAnnotationDefaulted] != strings.Join(res.Applied, ",") {
							t.Errorf("audit annotations %v, want %s=%s", resp.AuditAnnotations, admission.AuditAnnotationDefaulted, strings.Join(res.Applied, ","))
						}
					case "unchanged", "skipped":
						if mutated {
							t.Errorf("want no patch, got %s", resp.Patch)
						}
					}
				})
			}
		})
	}
}

// TestNoHTTP2 offers h2 in the handshake and checks that the server picks
// HTTP/1.1.
func TestNoHTTP2(t *testing.T) {
	ts := start(t, setup{})
	conn, err := tls.Dial("tcp", ts.Addr().String(), &tls.Config{RootCAs: ts.roots, ServerName: "localhost", NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if p := conn.ConnectionState().NegotiatedProtocol; p != "http/1.1" {
		t.Errorf("negotiated %q, want http/1.1", p)
	}
}

// TestTLSMinVersion checks that a client limited to a version below the
// minimum cannot connect.
func TestTLSMinVersion(t *testing.T) {
	tests := []struct {
		min       string
		clientMax uint16
		wantOK    bool
	}{
		{"1.2", tls.VersionTLS11, false},
		{"1.2", tls.VersionTLS12, true},
		{"1.3", tls.VersionTLS12, false},
		{"1.3", tls.VersionTLS13, true},
	}
	for _, tt := range tests {
		t.Run(tt.min+"/"+tls.VersionName(tt.clientMax), func(t *testing.T) {
			ts := start(t, setup{tweak: func(o *server.Options) { o.TLSMinVersion = tt.min }})
			conn, err := tls.Dial("tcp", ts.Addr().String(), &tls.Config{RootCAs: ts.roots, ServerName: "localhost", MinVersion: tls.VersionTLS10, MaxVersion: tt.clientMax})
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tt.wantOK {
				t.Errorf("handshake error = %v, want success %v", err, tt.wantOK)
			}
		})
	}
}

// TestAuditOverTLS sends a review to POST /audit: the same checks as
// /mutate, an answer without a patch, with the would-default annotation and
// warnings; a body that is not a review gets 400 there too.
func TestAuditOverTLS(t *testing.T) {
	ts := start(t, setup{})
	c := ts.client(true)
	url := strings.TrimSuffix(ts.url(), "/mutate") + "/audit"
	r, err := post(c, url+"?timeout=10s", "application/json", at.Review(at.Request{UID: "a", Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}))
	if err != nil {
		t.Fatal(err)
	}
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	resp, err := at.DecodeResponse(r.body)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Allowed || len(resp.Patch) > 0 || resp.AuditAnnotations[admission.AuditAnnotationWouldDefault] == "" || len(resp.Warnings) == 0 {
		t.Errorf("audit answer: allowed %v, patch %q, annotations %v, warnings %q", resp.Allowed, resp.Patch, resp.AuditAnnotations, resp.Warnings)
	}
	if r, err := post(c, url, "application/json", []byte("{}")); err != nil || r.status != http.StatusBadRequest {
		t.Errorf("not a review on /audit: %v, status %d", err, r.status)
	}
	if r, err := post(c, url, "text/plain", []byte("{}")); err != nil || r.status != http.StatusUnsupportedMediaType {
		t.Errorf("wrong content type on /audit: %v, status %d", err, r.status)
	}
}
