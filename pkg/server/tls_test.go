package server_test

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
	"github.com/secure-defaults/secure-defaults/pkg/server"
)

// clientPKI is a CA and a client certificate it signed, as an API server's
// admission configuration would present.
type clientPKI struct {
	caPEM []byte
	cert  tls.Certificate
}

func newClientPKI(t *testing.T) clientPKI {
	t.Helper()
	ca, err := pki.NewCA(pki.CAOptions{CommonName: "test client CA", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	client, err := ca.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return clientPKI{caPEM: ca.CertPEM, cert: cert}
}

// TestClientCAFile: with --client-ca-file, a client without a certificate,
// or with one from another CA, cannot connect; the API server's can.
func TestClientCAFile(t *testing.T) {
	ours, other := newClientPKI(t), newClientPKI(t)
	caFile := filepath.Join(t.TempDir(), "client-ca.crt")
	if err := os.WriteFile(caFile, ours.caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := start(t, setup{tweak: func(o *server.Options) { o.ClientCAFile = caFile }})
	for _, c := range []struct {
		name   string
		certs  []tls.Certificate
		wantOK bool
	}{
		{"no client certificate", nil, false},
		{"certificate of another CA", []tls.Certificate{other.cert}, false},
		{"certificate of the client CA", []tls.Certificate{ours.cert}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: ts.roots, ServerName: "localhost", Certificates: c.certs}}}
			r, err := post(client, ts.url(), "application/json", goodReview())
			if ok := err == nil && r.status == http.StatusOK; ok != c.wantOK {
				t.Errorf("review: %v, status %d; want success %v", err, r.status, c.wantOK)
			}
		})
	}
}

func TestClientCAFileInvalid(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not-pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, f := range []string{filepath.Join(dir, "missing"), notPEM} {
		o := server.NewOptions()
		o.CertFile, o.KeyFile, o.ClientCAFile = "c", "k", f
		if err := o.Validate(); err == nil {
			t.Errorf("Validate accepted --client-ca-file %s", f)
		}
	}
}

// TestTLS12CipherSuites: TLS 1.2 clients get AEAD suites only.
func TestTLS12CipherSuites(t *testing.T) {
	ts := start(t, setup{})
	dial := func(suites []uint16) error {
		c, err := tls.Dial("tcp", ts.Addr().String(), &tls.Config{RootCAs: ts.roots, ServerName: "localhost",
			MaxVersion: tls.VersionTLS12, CipherSuites: suites})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, s := range tls.InsecureCipherSuites() {
		if err := dial([]uint16{s.ID}); err == nil {
			t.Errorf("handshake with insecure suite %s succeeded", s.Name)
		}
	}
	for _, s := range []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA} {
		if err := dial([]uint16{s}); err == nil {
			t.Errorf("handshake with CBC suite %s succeeded", tls.CipherSuiteName(s))
		}
	}
	if err := dial([]uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}); err != nil {
		t.Errorf("handshake with an AEAD suite: %v", err)
	}
}
