package server_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/internal/testutil"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
	"github.com/secure-defaults/secure-defaults/pkg/server"
)

// TestCertificateRotation rewrites the certificate files in place (so the
// server also reads half-written and mismatched pairs) while clients send a
// stream of reviews, each over a new TLS handshake. No request may fail, and
// the new serial must be served afterwards.
func TestCertificateRotation(t *testing.T) {
	ts := start(t, setup{tweak: func(o *server.Options) { o.CertPollInterval = time.Millisecond }})
	next := testutil.Throwaway(t, pki.RSA)
	ts.roots.AppendCertsFromPEM(next.CA.CertPEM) // the clients trust the old and the new CA
	good := at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})

	var (
		stop       atomic.Bool
		ok, failed atomic.Int64
		sawNew     atomic.Bool
		mu         sync.Mutex
		failures   []string
		wg         sync.WaitGroup
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.client(false)
			for !stop.Load() {
				r, err := post(c, ts.url(), "application/json", good)
				if err != nil || r.status != http.StatusOK {
					failed.Add(1)
					mu.Lock()
					failures = append(failures, errString(err, r.status))
					mu.Unlock()
					continue
				}
				ok.Add(1)
				if r.resp.TLS.PeerCertificates[0].SerialNumber.Cmp(next.Serving.Cert.SerialNumber) == 0 {
					sawNew.Store(true)
				}
			}
		}()
	}
	testutil.WaitFor(t, "requests before the rotation", func() bool { return ok.Load() >= 20 })
	// Write the key first and the certificate second, each truncated then
	// filled: the watcher sees a new key with the old certificate, then
	// partial certificates, before the good pair.
	writePair(t, ts.certFile, ts.keyFile, next)
	testutil.WaitFor(t, "the new serial to be served", sawNew.Load)
	before := ok.Load()
	testutil.WaitFor(t, "requests after the rotation", func() bool { return ok.Load() >= before+20 })
	stop.Store(true)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed during the rotation: %v", failed.Load(), failed.Load()+ok.Load(), failures)
	}
	t.Logf("%d requests during the rotation, none failed", ok.Load())
}

func errString(err error, status int) string {
	if err != nil {
		return err.Error()
	}
	return http.StatusText(status)
}

// gated wraps a Reviewer: it counts the reviews it accepts, and holds those
// hold picks (by default, those whose body contains heldMarker) until
// release is closed.
type gated struct {
	inner    server.Reviewer
	hold     func(body []byte) bool
	accepted atomic.Int64
	entered  chan struct{}
	release  chan struct{}
}

const heldMarker = "held-review"

func (g *gated) Review(ctx context.Context, body []byte) ([]byte, error) {
	g.accepted.Add(1)
	held := bytes.Contains(body, []byte(heldMarker))
	if g.hold != nil {
		held = g.hold(body)
	}
	if held {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.inner.Review(ctx, body)
}

// TestShutdownDrains cancels the context while reviews are in flight and a
// stream of others is arriving: every review the server accepted is
// answered, new connections are refused, and Run returns nil.
func TestShutdownDrains(t *testing.T) {
	g := &gated{inner: admission.NewHandler(nil, nil), entered: make(chan struct{}, 8), release: make(chan struct{})}
	ts := start(t, setup{reviewer: g})
	good := at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})

	heldBody := at.Review(at.Request{UID: heldMarker, Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})
	var answered, transportErrors, badAnswers atomic.Int64
	send := func(c *http.Client, body []byte) error {
		r, err := post(c, ts.url(), "application/json", body)
		switch {
		case err != nil:
			transportErrors.Add(1)
			return err
		case r.status != http.StatusOK:
			badAnswers.Add(1)
			return errors.New(http.StatusText(r.status))
		}
		if ar, err := at.DecodeResponse(r.body); err != nil || !ar.Allowed {
			badAnswers.Add(1)
			return errors.New("bad answer")
		}
		answered.Add(1)
		return nil
	}

	// A stream on keep-alive connections, until each sender sees an error.
	var stream sync.WaitGroup
	for range 4 {
		stream.Add(1)
		go func() {
			defer stream.Done()
			c := ts.client(true)
			for send(c, good) == nil {
			}
		}()
	}
	testutil.WaitFor(t, "the stream to flow", func() bool { return answered.Load() >= 20 })

	// Three reviews held inside the handler while shutdown begins.
	const held = 3
	var heldWG sync.WaitGroup
	heldErrs := make(chan error, held)
	for range held {
		heldWG.Add(1)
		go func() { defer heldWG.Done(); heldErrs <- send(ts.client(false), heldBody) }()
	}
	for range held {
		<-g.entered
	}

	ts.cancel()
	testutil.WaitFor(t, "the listener to refuse new connections", func() bool {
		conn, err := net.Dial("tcp", ts.Addr().String())
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	if code, body := get(t, ts.metricsURL("/readyz")); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Errorf("/readyz while draining: %d %q, want 503 shutting down", code, body)
	}
	close(g.release)
	heldWG.Wait()
	close(heldErrs)
	for err := range heldErrs {
		if err != nil {
			t.Errorf("a review in flight at shutdown was not answered: %v", err)
		}
	}
	select {
	case err := <-ts.done:
		ts.done <- err
		if err != nil {
			t.Errorf("Run = %v, want nil after a clean drain", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return")
	}
	stream.Wait()
	if badAnswers.Load() != 0 {
		t.Errorf("%d requests got an error answer", badAnswers.Load())
	}
	if a, acc := answered.Load(), g.accepted.Load(); a != acc {
		t.Errorf("server accepted %d reviews but clients got %d answers", acc, a)
	}
	t.Logf("%d reviews accepted and answered; %d requests refused after shutdown began", answered.Load(), transportErrors.Load())
}

// TestShutdownTimeout checks that a review stuck past --shutdown-timeout
// makes Run return an error instead of hanging.
func TestShutdownTimeout(t *testing.T) {
	g := &gated{inner: admission.NewHandler(nil, nil), entered: make(chan struct{}, 1), release: make(chan struct{})}
	ts := start(t, setup{reviewer: g, tweak: func(o *server.Options) { o.ShutdownTimeout = 50 * time.Millisecond }})
	defer close(g.release)
	go post(ts.client(false), ts.url(), "application/json", []byte(heldMarker)) //nolint:errcheck // its outcome is not the point
	<-g.entered
	if err := ts.stop(t); err == nil || !strings.Contains(err.Error(), "still in flight") {
		t.Errorf("Run = %v, want an error about reviews still in flight", err)
	}
}

// TestReadiness starts without certificate files: not ready and no
// handshake, until the files appear; then ready and serving.
func TestReadiness(t *testing.T) {
	ts := start(t, setup{noCert: true})
	if code, body := get(t, ts.metricsURL("/readyz")); code != http.StatusServiceUnavailable || !strings.Contains(body, "no TLS certificate") {
		t.Errorf("/readyz without a certificate: %d %q, want 503 naming the certificate", code, body)
	}
	if code, _ := get(t, ts.metricsURL("/healthz")); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200: the process is alive", code)
	}
	good := at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})
	if _, err := post(ts.client(false), ts.url(), "application/json", good); err == nil {
		t.Error("a request succeeded without a certificate")
	}

	b := testutil.Throwaway(t, pki.ECDSA)
	ts.roots.AppendCertsFromPEM(b.CA.CertPEM)
	writePair(t, ts.certFile, ts.keyFile, b)
	if err := ts.ReloadCertificate(); err != nil {
		t.Fatalf("ReloadCertificate: %v", err)
	}
	if code, body := get(t, ts.metricsURL("/readyz")); code != http.StatusOK {
		t.Errorf("/readyz with a certificate: %d %q, want 200", code, body)
	}
	r, err := post(ts.client(false), ts.url(), "application/json", good)
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("review after the certificate appeared: %v %d", err, r.status)
	}
	if r.resp.TLS.PeerCertificates[0].SerialNumber.Cmp(b.Serving.Cert.SerialNumber) != 0 {
		t.Errorf("served serial %v, want %v", r.resp.TLS.PeerCertificates[0].SerialNumber, b.Serving.Cert.SerialNumber)
	}
}
