package certwatch_test

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/secure-defaults/secure-defaults/pkg/certwatch"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

func generate(t *testing.T, kt pki.KeyType) *pki.Bundle {
	t.Helper()
	b, err := pki.Throwaway(pki.ThrowawayOptions{KeyType: kt})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func servedSerial(t *testing.T, w *certwatch.Watcher) *big.Int {
	t.Helper()
	c, err := w.GetCertificate(nil)
	if err != nil {
		t.Fatalf("GetCertificate: %v", err)
	}
	return c.Leaf.SerialNumber
}

// TestReloadKeepsLastGoodPair walks through a rotation done badly — files
// missing, the certificate written before its key, a half-written file,
// garbage — and checks that the last good pair is served throughout.
func TestReloadKeepsLastGoodPair(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	w := certwatch.New(certFile, keyFile, 0, nil)

	if _, err := w.GetCertificate(nil); !errors.Is(err, certwatch.ErrNoCertificate) {
		t.Fatalf("GetCertificate before any load: %v, want ErrNoCertificate", err)
	}
	if _, err := w.Reload(); err == nil {
		t.Fatal("Reload of missing files succeeded")
	}
	if err := w.Healthy(); !errors.Is(err, certwatch.ErrNoCertificate) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Healthy with missing files = %v, want ErrNoCertificate naming the missing file", err)
	}

	first := generate(t, pki.ECDSA)
	write(t, certFile, first.Serving.CertPEM)
	write(t, keyFile, first.Serving.KeyPEM)
	if changed, err := w.Reload(); err != nil || !changed {
		t.Fatalf("Reload of a good pair = %v, %v; want changed", changed, err)
	}
	if err := w.Healthy(); err != nil {
		t.Fatalf("Healthy after a good load: %v", err)
	}
	if got := servedSerial(t, w); got.Cmp(first.Serving.Cert.SerialNumber) != 0 {
		t.Fatalf("serving serial %v, want %v", got, first.Serving.Cert.SerialNumber)
	}
	if changed, err := w.Reload(); err != nil || changed {
		t.Fatalf("Reload of unchanged files = %v, %v; want no change", changed, err)
	}

	second := generate(t, pki.RSA)
	steps := []struct {
		name       string
		cert, key  []byte
		wantErr    bool
		wantSerial *big.Int
	}{
		{"new certificate, old key", second.Serving.CertPEM, first.Serving.KeyPEM, true, first.Serving.Cert.SerialNumber},
		{"half-written certificate", second.Serving.CertPEM[:len(second.Serving.CertPEM)/2], second.Serving.KeyPEM, true, first.Serving.Cert.SerialNumber},
		{"empty key", second.Serving.CertPEM, nil, true, first.Serving.Cert.SerialNumber},
		{"garbage key", second.Serving.CertPEM, []byte("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"), true, first.Serving.Cert.SerialNumber},
		{"complete RSA pair", second.Serving.CertPEM, second.Serving.KeyPEM, false, second.Serving.Cert.SerialNumber},
	}
	for _, s := range steps {
		write(t, certFile, s.cert)
		write(t, keyFile, s.key)
		_, err := w.Reload()
		if (err != nil) != s.wantErr {
			t.Errorf("%s: Reload error = %v, want error %v", s.name, err, s.wantErr)
		}
		if got := servedSerial(t, w); got.Cmp(s.wantSerial) != 0 {
			t.Errorf("%s: serving serial %v, want %v", s.name, got, s.wantSerial)
		}
		if err := w.Healthy(); err != nil {
			t.Errorf("%s: Healthy = %v, want healthy while a good pair is served", s.name, err)
		}
	}

	if err := os.Remove(certFile); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Reload(); err == nil {
		t.Error("Reload of a removed certificate succeeded")
	}
	if got := servedSerial(t, w); got.Cmp(second.Serving.Cert.SerialNumber) != 0 {
		t.Errorf("after the file was removed: serving serial %v, want %v", got, second.Serving.Cert.SerialNumber)
	}
}

// TestRunPicksUpChanges checks that Run loads files that appear after it
// started and follows a rotation, with no call to Reload.
func TestRunPicksUpChanges(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	w := certwatch.New(certFile, keyFile, 5*time.Millisecond, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	for _, b := range []*pki.Bundle{generate(t, pki.ECDSA), generate(t, pki.ECDSA)} {
		// Write through a rename, as a Secret volume update does.
		tmpC, tmpK := filepath.Join(dir, "c.tmp"), filepath.Join(dir, "k.tmp")
		write(t, tmpK, b.Serving.KeyPEM)
		write(t, tmpC, b.Serving.CertPEM)
		if err := os.Rename(tmpK, keyFile); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmpC, certFile); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			c, err := w.GetCertificate(nil)
			return err == nil && c.Leaf.SerialNumber.Cmp(b.Serving.Cert.SerialNumber) == 0
		})
	}
}

// waitFor polls cond until it holds, failing the test after a generous bound
// (a hang, not a timing assertion).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 20s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestSetWithoutFiles follows a Watcher made without files, as the built-in
// certificate mode and --self-signed use it: it serves only what it is
// handed, checked as a file pair would be.
func TestSetWithoutFiles(t *testing.T) {
	w := certwatch.New("", "", 0, nil)
	if changed, err := w.Reload(); changed || err != nil {
		t.Fatalf("Reload without files = %v, %v; want nothing to do", changed, err)
	}
	if err := w.Healthy(); !errors.Is(err, certwatch.ErrNoCertificate) {
		t.Fatalf("Healthy before Set = %v, want ErrNoCertificate", err)
	}
	first, second := generate(t, pki.ECDSA), generate(t, pki.RSA)
	if _, err := w.Set(first.Serving.CertPEM, second.Serving.KeyPEM); err == nil {
		t.Fatal("Set accepted a certificate with another certificate's key")
	}
	if err := w.Healthy(); !errors.Is(err, certwatch.ErrNoCertificate) {
		t.Fatalf("Healthy after a refused Set = %v, want ErrNoCertificate", err)
	}
	if changed, err := w.Set(first.Serving.CertPEM, first.Serving.KeyPEM); err != nil || !changed {
		t.Fatalf("Set of a good pair = %v, %v; want changed", changed, err)
	}
	if changed, err := w.Set(first.Serving.CertPEM, first.Serving.KeyPEM); err != nil || changed {
		t.Fatalf("Set of the same pair = %v, %v; want no change", changed, err)
	}
	if _, err := w.Set(second.Serving.CertPEM[:10], second.Serving.KeyPEM); err == nil {
		t.Fatal("Set accepted a truncated certificate")
	}
	if got := servedSerial(t, w); got.Cmp(first.Serving.Cert.SerialNumber) != 0 {
		t.Fatalf("after a refused Set: serving serial %v, want the previous %v", got, first.Serving.Cert.SerialNumber)
	}
	if _, err := w.Set(second.Serving.CertPEM, second.Serving.KeyPEM); err != nil {
		t.Fatal(err)
	}
	if got := servedSerial(t, w); got.Cmp(second.Serving.Cert.SerialNumber) != 0 {
		t.Fatalf("serving serial %v, want the new %v", got, second.Serving.Cert.SerialNumber)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	cancel()
	<-done
	if got := servedSerial(t, w); got.Cmp(second.Serving.Cert.SerialNumber) != 0 {
		t.Errorf("Run without files changed the certificate to serial %v", got)
	}
}
