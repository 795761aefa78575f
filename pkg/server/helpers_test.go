package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secure-defaults/secure-defaults/internal/testutil"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
	"github.com/secure-defaults/secure-defaults/pkg/server"
)

// testServer is a running server with the real admission handler and
// Prometheus metrics, on loopback ports chosen by the kernel.
type testServer struct {
	*server.Server
	certFile, keyFile string
	roots             *x509.CertPool
	cancel            context.CancelFunc
	done              chan error
}

type setup struct {
	keyType  pki.KeyType
	noCert   bool // start without certificate files
	reviewer server.Reviewer
	tweak    func(*server.Options)
	logTo    io.Writer // as well as the test log
}

func writePair(t *testing.T, certFile, keyFile string, b *pki.Bundle) {
	t.Helper()
	if err := os.WriteFile(keyFile, b.Serving.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, b.Serving.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

func start(t *testing.T, s setup) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{certFile: filepath.Join(dir, "tls.crt"), keyFile: filepath.Join(dir, "tls.key"), roots: x509.NewCertPool(), done: make(chan error, 1)}
	if !s.noCert {
		b := testutil.Throwaway(t, s.keyType)
		writePair(t, ts.certFile, ts.keyFile, b)
		ts.roots.AppendCertsFromPEM(b.CA.CertPEM)
	}
	o := server.NewOptions()
	o.Listen, o.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	o.CertFile, o.KeyFile = ts.certFile, ts.keyFile
	o.ShutdownTimeout = 20 * time.Second
	if s.tweak != nil {
		s.tweak(o)
	}
	var w io.Writer = testWriter{t}
	if s.logTo != nil {
		w = io.MultiWriter(w, s.logTo)
	}
	log := slog.New(server.TruncatingHandler(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}), server.MaxLogValue))
	m := metrics.New("test", "abc123")
	r := s.reviewer
	if r == nil {
		r = admission.NewHandler(m, log)
	}
	srv, err := server.New(*o, r, m, log)
	if err != nil {
		t.Fatal(err)
	}
	ts.Server = srv
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	go func() { ts.done <- srv.Run(ctx) }()
	select {
	case <-srv.Started():
	case err := <-ts.done:
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-ts.done:
		case <-time.After(30 * time.Second):
			t.Error("server did not stop")
		}
	})
	return ts
}

// stop cancels the server's context and returns what Run returned.
func (ts *testServer) stop(t *testing.T) error {
	t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // for Cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

func (ts *testServer) url() string { return "https://" + ts.Addr().String() + "/mutate" }

func (ts *testServer) metricsURL(path string) string {
	return "http://" + ts.MetricsAddr().String() + path
}

// client returns an HTTP/1.1 client that trusts the test CA.
func (ts *testServer) client(keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: ts.roots, ServerName: "localhost"},
			DisableKeepAlives: !keepAlive,
		},
	}
}

type reply struct {
	status int
	body   []byte
	resp   *http.Response
}

// post sends body; it does not fail the test, so goroutines may call it.
func post(c *http.Client, url, contentType string, body []byte) (reply, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return reply{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return reply{}, err
	}
	return reply{status: resp.StatusCode, body: b, resp: resp}, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// testWriter sends the server's log lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
