package certwatch_test

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/secure-defaults/secure-defaults/internal/testutil"
	"github.com/secure-defaults/secure-defaults/pkg/certwatch"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// newWatcher returns a Watcher, checking every interval, of tls.crt and
// tls.key in a fresh directory that holds neither yet.
func newWatcher(t *testing.T, interval time.Duration) (w *certwatch.Watcher, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	return certwatch.New(certFile, keyFile, interval, nil), certFile, keyFile
}

// writePair writes b's serving certificate and key over certFile and keyFile.
func writePair(t *testing.T, certFile, keyFile string, b *pki.Bundle) {
	t.Helper()
	write(t, certFile, b.Serving.CertPEM)
	write(t, keyFile, b.Serving.KeyPEM)
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
	w, certFile, keyFile := newWatcher(t, 0)

	if _, err := w.GetCertificate(nil); !errors.Is(err, certwatch.ErrNoCertificate) {
		t.Fatalf("GetCertificate before any load: %v, want ErrNoCertificate", err)
	}
	if _, err := w.Reload(); err == nil {
		t.Fatal("Reload of missing files succeeded")
	}
	if err := w.Healthy(); !errors.Is(err, certwatch.ErrNoCertificate) || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Healthy with missing files = %v, want ErrNoCertificate naming the missing file", err)
	}

	first := testutil.Throwaway(t, pki.ECDSA)
	writePair(t, certFile, keyFile, first)
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

	second := testutil.Throwaway(t, pki.RSA)
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
	w, certFile, keyFile := newWatcher(t, 5*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.Run(ctx)

	for _, b := range []*pki.Bundle{testutil.Throwaway(t, pki.ECDSA), testutil.Throwaway(t, pki.ECDSA)} {
		// Write through a rename, as a Secret volume update does.
		tmpC, tmpK := certFile+".tmp", keyFile+".tmp"
		write(t, tmpK, b.Serving.KeyPEM)
		write(t, tmpC, b.Serving.CertPEM)
		if err := os.Rename(tmpK, keyFile); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmpC, certFile); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(t, "the rotated certificate", func() bool {
			c, err := w.GetCertificate(nil)
			return err == nil && c.Leaf.SerialNumber.Cmp(b.Serving.Cert.SerialNumber) == 0
		})
	}
}

// observer counts what a Watcher reports.
type observer struct {
	mu       sync.Mutex
	notAfter []time.Time
	failures int
}

func (o *observer) ObserveCertificate(t time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.notAfter = append(o.notAfter, t)
}

func (o *observer) ObserveReloadFailure() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
}

// TestInvalidCertificatesNeverServed writes, over a good pair, certificates
// that would fail every handshake and checks that the good pair stays, that
// each failure is counted and that only the good certificate's expiry is
// reported.
func TestInvalidCertificatesNeverServed(t *testing.T) {
	now := time.Now()
	gen := func(o pki.ThrowawayOptions) *pki.Bundle {
		t.Helper()
		b, err := pki.Throwaway(o)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	other := gen(pki.ThrowawayOptions{})
	cases := []struct {
		name    string
		bundle  *pki.Bundle
		key     []byte // instead of the bundle's own
		wantErr string
	}{
		{name: "expired", bundle: gen(pki.ThrowawayOptions{NotBefore: now.Add(-48 * time.Hour), Lifetime: 24 * time.Hour}), wantErr: "expired at"},
		{name: "not yet valid", bundle: gen(pki.ThrowawayOptions{NotBefore: now.Add(time.Hour), Lifetime: 24 * time.Hour}), wantErr: "not valid until"},
		{name: "key of another certificate", bundle: gen(pki.ThrowawayOptions{}), key: other.Serving.KeyPEM, wantErr: "private key does not match public key"},
		{name: "RSA certificate, ECDSA key", bundle: gen(pki.ThrowawayOptions{KeyType: pki.RSA}), key: other.Serving.KeyPEM, wantErr: "private key type does not match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w, certFile, keyFile := newWatcher(t, 0)
			obs := &observer{}
			w.SetObserver(obs)
			good := testutil.Throwaway(t, pki.ECDSA)
			writePair(t, certFile, keyFile, good)
			if _, err := w.Reload(); err != nil {
				t.Fatalf("Reload of a good pair: %v", err)
			}

			key := c.key
			if key == nil {
				key = c.bundle.Serving.KeyPEM
			}
			write(t, certFile, c.bundle.Serving.CertPEM)
			write(t, keyFile, key)
			for range 2 {
				if changed, err := w.Reload(); err == nil || changed || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Reload = %v, %v; want an error containing %q", changed, err, c.wantErr)
				}
			}
			if got := servedSerial(t, w); got.Cmp(good.Serving.Cert.SerialNumber) != 0 {
				t.Errorf("serving serial %v, want the good one %v", got, good.Serving.Cert.SerialNumber)
			}
			if err := w.Healthy(); err != nil {
				t.Errorf("Healthy = %v, want healthy: the good pair is still served", err)
			}
			obs.mu.Lock()
			defer obs.mu.Unlock()
			if obs.failures != 2 {
				t.Errorf("reload failures observed = %d, want 2", obs.failures)
			}
			if len(obs.notAfter) != 1 {
				t.Errorf("certificates observed = %d, want 1 (the good one)", len(obs.notAfter))
			}
		})
	}
}

// TestNotYetValidAtStart checks that a first pair that is not valid yet is
// not served, and is served once it becomes valid.
func TestNotYetValidAtStart(t *testing.T) {
	w, certFile, keyFile := newWatcher(t, 0)
	b, err := pki.Throwaway(pki.ThrowawayOptions{NotBefore: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, certFile, keyFile, b)
	if _, err := w.Reload(); err == nil {
		t.Fatal("Reload of a not-yet-valid pair succeeded")
	}
	if err := w.Healthy(); !errors.Is(err, certwatch.ErrNoCertificate) {
		t.Fatalf("Healthy = %v, want ErrNoCertificate", err)
	}
	w.SetClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
	if _, err := w.Reload(); err != nil {
		t.Fatalf("Reload once valid: %v", err)
	}
	if got := servedSerial(t, w); got.Cmp(b.Serving.Cert.SerialNumber) != 0 {
		t.Errorf("serving serial %v, want %v", got, b.Serving.Cert.SerialNumber)
	}
}

// TestExpiryOfTheServedCertificate moves the clock towards and past the
// expiry of the served certificate: a warning within ExpiryWarning, then
// unhealthy, and healthy again once a renewed pair loads.
func TestExpiryOfTheServedCertificate(t *testing.T) {
	w, certFile, keyFile := newWatcher(t, 0)
	obs := &observer{}
	w.SetObserver(obs)
	b := testutil.Throwaway(t, pki.ECDSA)
	writePair(t, certFile, keyFile, b)
	if _, err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	leaf, _ := w.GetCertificate(nil)
	notAfter := leaf.Leaf.NotAfter
	if len(obs.notAfter) != 1 || !obs.notAfter[0].Equal(notAfter) {
		t.Fatalf("observed expiry %v, want [%v]", obs.notAfter, notAfter)
	}

	if msg := w.Warning(); msg != "" {
		t.Errorf("Warning a day before expiry = %q, want none", msg)
	}
	w.SetClock(func() time.Time { return notAfter.Add(-certwatch.ExpiryWarning / 2) })
	if msg := w.Warning(); !strings.Contains(msg, "expires at") {
		t.Errorf("Warning within the window = %q, want one naming the expiry", msg)
	}
	if err := w.Healthy(); err != nil {
		t.Errorf("Healthy within the window = %v, want healthy (still valid)", err)
	}

	w.SetClock(func() time.Time { return notAfter.Add(time.Minute) })
	if err := w.Healthy(); !errors.Is(err, certwatch.ErrExpired) {
		t.Errorf("Healthy after expiry = %v, want ErrExpired", err)
	}
	if _, err := w.Reload(); err != nil {
		t.Errorf("Reload of the unchanged files = %v, want no error (nothing new to load)", err)
	}

	// The renewed pair is valid at the moved clock.
	renewed, err := pki.Throwaway(pki.ThrowawayOptions{NotBefore: notAfter, Lifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	writePair(t, certFile, keyFile, renewed)
	if _, err := w.Reload(); err != nil {
		t.Fatalf("Reload of the renewed pair: %v", err)
	}
	if err := w.Healthy(); err != nil {
		t.Errorf("Healthy after renewal = %v", err)
	}
}

// TestMissingFilesAtStartAreNotFailures: waiting for a certificate manager
// to write the files is not a failed reload; losing them later is.
func TestMissingFilesAtStartAreNotFailures(t *testing.T) {
	w, certFile, keyFile := newWatcher(t, 0)
	obs := &observer{}
	w.SetObserver(obs)
	w.Reload()
	if obs.failures != 0 {
		t.Errorf("failures while waiting for the files = %d, want 0", obs.failures)
	}
	b := testutil.Throwaway(t, pki.ECDSA)
	writePair(t, certFile, keyFile, b)
	if _, err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	os.Remove(keyFile)
	w.Reload()
	if obs.failures != 1 {
		t.Errorf("failures after the key file vanished = %d, want 1", obs.failures)
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
	first, second := testutil.Throwaway(t, pki.ECDSA), testutil.Throwaway(t, pki.RSA)
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
