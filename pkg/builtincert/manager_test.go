package builtincert

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/secure-defaults/secure-defaults/pkg/certwatch"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

const testNS = "secure-defaults"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// fakeClock is a settable clock shared by the managers of one test.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// webhookConfig is the shipped shape: one entry for our Service, plus entries
// that must be left alone.
func webhookConfig() *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultWebhookConfigurationName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			{
				Name:         "pods.secure-defaults.dev",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: testNS, Name: DefaultServiceName}},
			},
			{
				Name:         "other-service.example.com",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: testNS, Name: "other"}, CABundle: []byte("theirs")},
			},
			{
				Name:         "url.example.com",
				ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr("https://example.com/x"), CABundle: []byte("url")},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// serverHolder is what *server.Server does with a handed-over certificate:
// it gives it to a certwatch.Watcher without files.
type serverHolder struct{ *certwatch.Watcher }

func (h serverHolder) SetCertificate(certPEM, keyPEM []byte) error {
	_, err := h.Set(certPEM, keyPEM)
	return err
}

// newTestManager returns a manager on clock that hands its certificates to a
// Watcher of its own.
func newTestManager(t *testing.T, clock *fakeClock, tweak func(*Options)) *Manager {
	t.Helper()
	w := certwatch.New("", "", 0, nil)
	w.SetClock(clock.Now) // it judges validity on the managers' clock
	return newTestManagerFor(t, clock, tweak, serverHolder{w})
}

func newTestManagerFor(t *testing.T, clock *fakeClock, tweak func(*Options), holder Holder) *Manager {
	t.Helper()
	o := NewOptions()
	o.Namespace = testNS
	if tweak != nil {
		tweak(o)
	}
	m, err := New(o, holder)
	if err != nil {
		t.Fatal(err)
	}
	m.now = clock.Now
	return m
}

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func getSecret(t *testing.T, c *fake.Clientset) *corev1.Secret {
	t.Helper()
	s, err := c.CoreV1().Secrets(testNS).Get(context.Background(), DefaultSecretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func caBundles(t *testing.T, c *fake.Clientset) map[string][]byte {
	t.Helper()
	cfg, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(context.Background(), DefaultWebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, w := range cfg.Webhooks {
		out[w.Name] = w.ClientConfig.CABundle
	}
	return out
}

func mustCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	cs, err := pki.ParseCerts(b)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// servedPair is the pair the manager's Watcher serves in a handshake, PEM
// encoded as the manager encodes pairs.
func servedPair(t *testing.T, m *Manager) *pki.KeyPair {
	t.Helper()
	c, err := m.holder.(serverHolder).GetCertificate(nil)
	if err != nil {
		t.Fatalf("the server has no certificate: %v", err)
	}
	keyPEM, err := pki.EncodeKey(c.PrivateKey.(crypto.Signer))
	if err != nil {
		t.Fatal(err)
	}
	kp, err := pki.ParseKeyPair(pki.EncodeCerts([]*x509.Certificate{c.Leaf}), keyPEM)
	if err != nil {
		t.Fatalf("the server holds no matching certificate and key: %v", err)
	}
	return kp
}

// apiServerAccepts reports whether an API server holding caBundle would accept
// the certificate served by the webhook Service at now.
func apiServerAccepts(serving *x509.Certificate, caBundle []byte, now time.Time) error {
	roots, err := pki.ParseCerts(caBundle)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err = serving.Verify(x509.VerifyOptions{DNSName: DefaultServiceName + "." + testNS + ".svc", Roots: pool, CurrentTime: now})
	return err
}

func TestFirstRunCreatesSecretAndPublishesCABundle(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset(webhookConfig())
	m := newTestManager(t, clock, nil)

	if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatal(err)
	}
	if err := m.holder.(serverHolder).Healthy(); err != nil {
		t.Fatalf("the server has no certificate after the first pass: %v", err)
	}

	sec := getSecret(t, c)
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("Secret type = %q, want %q", sec.Type, corev1.SecretTypeTLS)
	}
	for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey, corev1.ServiceAccountRootCAKey, SignerCertKey, SignerKeyKey} {
		if len(sec.Data[k]) == 0 {
			t.Errorf("Secret has no %q", k)
		}
	}
	bundles := caBundles(t, c)
	if !bytes.Equal(bundles["pods.secure-defaults.dev"], sec.Data[corev1.ServiceAccountRootCAKey]) {
		t.Error("caBundle of our webhook differs from the Secret's ca.crt")
	}
	if string(bundles["other-service.example.com"]) != "theirs" || string(bundles["url.example.com"]) != "url" {
		t.Errorf("webhooks for other services were changed: %q", bundles)
	}
	if cas := mustCerts(t, sec.Data[corev1.ServiceAccountRootCAKey]); len(cas) != 1 || !cas[0].IsCA {
		t.Fatalf("ca.crt holds %d certificates, want one CA", len(cas))
	}

	served := servedPair(t, m)
	if !bytes.Equal(served.CertPEM, sec.Data[corev1.TLSCertKey]) || !bytes.Equal(served.KeyPEM, sec.Data[corev1.TLSPrivateKeyKey]) {
		t.Error("the files do not hold the Secret's serving pair")
	}
	if err := apiServerAccepts(served.Cert, bundles["pods.secure-defaults.dev"], clock.Now()); err != nil {
		t.Errorf("the API server would reject the served certificate: %v", err)
	}
	wantNames := []string{"secure-defaults.secure-defaults.svc", "secure-defaults.secure-defaults.svc.cluster.local"}
	if !containsAll(served.Cert.DNSNames, wantNames) {
		t.Errorf("serving certificate names = %v, want at least %v", served.Cert.DNSNames, wantNames)
	}

	// A second pass with nothing due changes nothing.
	rv := sec.ResourceVersion
	before := getSecret(t, c).Data
	if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatal(err)
	}
	after := getSecret(t, c)
	if after.ResourceVersion != rv || !bytes.Equal(after.Data[corev1.TLSCertKey], before[corev1.TLSCertKey]) {
		t.Error("a pass with nothing due rewrote the Secret")
	}
}

func TestTwoManagersRacingShareOneCA(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset(webhookConfig())
	a := newTestManager(t, clock, nil)
	b := newTestManager(t, clock, nil)

	// b creates the Secret between a's Get (NotFound) and a's Create, so a
	// gets AlreadyExists. (b cannot call the fake client from inside a
	// reactor, so its Secret is made on a side clientset and stored at that
	// moment.)
	side := fake.NewClientset()
	if _, err := b.reconcile(context.Background(), side, testLogger()); err != nil {
		t.Fatal(err)
	}
	bSecret := getSecret(t, side)
	raced := false
	c.PrependReactor("create", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if !raced {
			raced = true
			if err := c.Tracker().Add(bSecret); err != nil {
				t.Errorf("storing the competing Secret: %v", err)
			}
		}
		return false, nil, nil
	})
	if _, err := a.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatalf("the manager that lost the create race failed: %v", err)
	}
	if !raced {
		t.Fatal("the manager never tried to create the Secret")
	}
	if _, err := b.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatal(err)
	}
	sec := getSecret(t, c)
	cas := mustCerts(t, sec.Data[corev1.ServiceAccountRootCAKey])
	if len(cas) != 1 {
		t.Fatalf("bundle holds %d CAs after the race, want 1", len(cas))
	}
	for name, m := range map[string]*Manager{"a": a, "b": b} {
		kp := servedPair(t, m)
		if !bytes.Equal(kp.CertPEM, sec.Data[corev1.TLSCertKey]) {
			t.Errorf("manager %s serves a certificate that is not the Secret's", name)
		}
		if !signedBy(kp.Cert, cas[0]) {
			t.Errorf("manager %s serves a certificate not signed by the one CA", name)
		}
	}
}

func TestManyManagersConcurrently(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset(webhookConfig())
	var ms []*Manager
	for range 5 {
		ms = append(ms, newTestManager(t, clock, nil))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for i, m := range ms {
		wg.Go(func() { _, errs[i] = m.reconcile(context.Background(), c, testLogger()) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Everyone converges on the stored Secret after one more pass.
	for _, m := range ms {
		if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
			t.Fatal(err)
		}
	}
	sec := getSecret(t, c)
	if cas := mustCerts(t, sec.Data[corev1.ServiceAccountRootCAKey]); len(cas) != 1 {
		t.Fatalf("bundle holds %d CAs, want 1", len(cas))
	}
	bundle := caBundles(t, c)["pods.secure-defaults.dev"]
	for i, m := range ms {
		kp := servedPair(t, m)
		if !bytes.Equal(kp.CertPEM, sec.Data[corev1.TLSCertKey]) {
			t.Errorf("manager %d serves a certificate that is not the Secret's", i)
		}
		if err := apiServerAccepts(kp.Cert, bundle, clock.Now()); err != nil {
			t.Errorf("manager %d: API server would reject: %v", i, err)
		}
	}
}

func TestUpdateConflictIsRetried(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset(webhookConfig())
	m := newTestManager(t, clock, func(o *Options) {
		o.CALifetime, o.CertLifetime, o.PropagationDelay = time.Hour, 30*time.Second, time.Second
	})
	if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatal(err)
	}
	first := servedPair(t, m)

	conflicts := 0
	for _, res := range []string{"secrets", "mutatingwebhookconfigurations"} {
		c.PrependReactor("update", res, func(a k8stesting.Action) (bool, runtime.Object, error) {
			if conflicts < 2 {
				conflicts++
				return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: a.GetResource().Resource}, "x", errors.New("the object has been modified"))
			}
			return false, nil, nil
		})
	}
	clock.Set(t0.Add(25 * time.Second)) // serving renewal due
	if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatalf("a resourceVersion conflict was not retried: %v", err)
	}
	if conflicts == 0 {
		t.Fatal("the test reactor never injected a conflict")
	}
	if renewed := servedPair(t, m); renewed.Cert.Equal(first.Cert) {
		t.Error("serving certificate not renewed after the conflict")
	}
}

func TestServingCertificateRotation(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset(webhookConfig())
	m := newTestManager(t, clock, func(o *Options) {
		o.CALifetime, o.CertLifetime, o.PropagationDelay = time.Hour, 30*time.Second, time.Second
	})
	if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatal(err)
	}
	first := servedPair(t, m)
	ca := mustCerts(t, getSecret(t, c).Data[SignerCertKey])[0]

	tests := []struct {
		name    string
		at      time.Duration
		renewed bool
	}{
		{name: "before two thirds", at: 19 * time.Second, renewed: false},
		{name: "past two thirds", at: 21 * time.Second, renewed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock.Set(t0.Add(tt.at))
			next, err := m.reconcile(context.Background(), c, testLogger())
			if err != nil {
				t.Fatal(err)
			}
			got := servedPair(t, m)
			if renewed := !got.Cert.Equal(first.Cert); renewed != tt.renewed {
				t.Fatalf("renewed = %v, want %v", renewed, tt.renewed)
			}
			if !tt.renewed {
				if want := renewAt(first.Cert); !next.Equal(want) {
					t.Errorf("next check at %s, want the renewal point %s", next, want)
				}
				return
			}
			if !signedBy(got.Cert, ca) {
				t.Error("renewed serving certificate is not signed by the same CA")
			}
			if cas := mustCerts(t, getSecret(t, c).Data[corev1.ServiceAccountRootCAKey]); len(cas) != 1 {
				t.Errorf("serving renewal changed the bundle to %d CAs", len(cas))
			}
			if err := apiServerAccepts(got.Cert, caBundles(t, c)["pods.secure-defaults.dev"], clock.Now()); err != nil {
				t.Errorf("API server would reject the renewed certificate: %v", err)
			}
		})
	}
}

// TestCARotationNeverBreaksReviews drives the managers' clock through two CA
// lifetimes, running a pass whenever one is due, as Run does. After every pass
// it checks what a rotation must guarantee: an API server that still has the
// previous caBundle accepts the new serving certificate, and a replica still
// serving the previous certificate is accepted with the new caBundle.
func TestCARotationNeverBreaksReviews(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset(webhookConfig())
	short := func(o *Options) {
		o.CALifetime, o.CertLifetime, o.PropagationDelay, o.CheckInterval = 90*time.Second, 30*time.Second, 5*time.Second, time.Hour
	}
	a := newTestManager(t, clock, short)
	b := newTestManager(t, clock, short)
	ms := []*Manager{a, b}
	next := make([]time.Time, len(ms))

	var prevBundle []byte
	prevServed := make([]*pki.KeyPair, len(ms))
	var sawOverlap, sawSwitch bool
	var firstCA *x509.Certificate

	for now := t0; now.Before(t0.Add(200 * time.Second)); now = now.Add(500 * time.Millisecond) {
		clock.Set(now)
		for i, m := range ms {
			if now.Before(next[i]) {
				continue
			}
			n, err := m.reconcile(context.Background(), c, testLogger())
			if err != nil {
				t.Fatalf("at +%s: %v", now.Sub(t0), err)
			}
			next[i] = n
			bundle := caBundles(t, c)["pods.secure-defaults.dev"]
			served := servedPair(t, m)
			if firstCA == nil {
				firstCA = mustCerts(t, bundle)[0]
			}
			if err := apiServerAccepts(served.Cert, bundle, now); err != nil {
				t.Fatalf("at +%s: new certificate rejected with the new caBundle: %v", now.Sub(t0), err)
			}
			if prevBundle != nil {
				if err := apiServerAccepts(served.Cert, prevBundle, now); err != nil {
					t.Fatalf("at +%s: manager %d switched its certificate before the API server could know the CA: %v", now.Sub(t0), i, err)
				}
			}
			for j, p := range prevServed {
				if p != nil && now.Before(p.Cert.NotAfter) {
					if err := apiServerAccepts(p.Cert, bundle, now); err != nil {
						t.Fatalf("at +%s: replica %d's unexpired certificate is no longer trusted by the new caBundle: %v", now.Sub(t0), j, err)
					}
				}
			}
			cas := mustCerts(t, bundle)
			if len(cas) == 2 && signedBy(served.Cert, firstCA) {
				sawOverlap = true // new CA published, old one still used and trusted
			}
			if len(cas) == 2 && !signedBy(served.Cert, firstCA) && slicesContainsCert(cas, firstCA) {
				sawSwitch = true // switched to the new CA while the old stays trusted
			}
			prevBundle = bundle
			prevServed[i] = served
		}
		// Every replica must be serving a certificate that an API server
		// with the current caBundle accepts, at every moment.
		bundle := caBundles(t, c)["pods.secure-defaults.dev"]
		for i, m := range ms {
			if err := apiServerAccepts(servedPair(t, m).Cert, bundle, now); err != nil {
				t.Fatalf("at +%s: replica %d serves a certificate the API server rejects: %v", now.Sub(t0), i, err)
			}
		}
	}
	if !sawOverlap || !sawSwitch {
		t.Fatalf("the CA was not rotated through both phases (overlap %v, switch %v)", sawOverlap, sawSwitch)
	}
	final := mustCerts(t, caBundles(t, c)["pods.secure-defaults.dev"])
	if slicesContainsCert(final, firstCA) {
		t.Error("the first CA is still in the bundle long after it expired")
	}
}

func slicesContainsCert(cs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range cs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

func TestRepairs(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, c *fake.Clientset)
	}{
		{
			name: "caBundle reset by re-applying the manifests",
			break_: func(t *testing.T, c *fake.Clientset) {
				if _, err := c.AdmissionregistrationV1().MutatingWebhookConfigurations().Update(context.Background(), webhookConfig(), metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "Secret content corrupted",
			break_: func(t *testing.T, c *fake.Clientset) {
				s := getSecret(t, c)
				s.Data = map[string][]byte{corev1.TLSCertKey: []byte("garbage"), corev1.TLSPrivateKeyKey: []byte("garbage")}
				if _, err := c.CoreV1().Secrets(testNS).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "Secret deleted",
			break_: func(t *testing.T, c *fake.Clientset) {
				if err := c.CoreV1().Secrets(testNS).Delete(context.Background(), DefaultSecretName, metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			c := fake.NewClientset(webhookConfig())
			m := newTestManager(t, clock, nil)
			if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
				t.Fatal(err)
			}
			before := servedPair(t, m).Cert
			tt.break_(t, c)
			clock.Set(t0.Add(time.Minute))
			if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
				t.Fatal(err)
			}
			sec := getSecret(t, c)
			bundle := caBundles(t, c)["pods.secure-defaults.dev"]
			if !bytes.Equal(bundle, sec.Data[corev1.ServiceAccountRootCAKey]) {
				t.Error("caBundle not restored to the Secret's ca.crt")
			}
			if err := apiServerAccepts(servedPair(t, m).Cert, bundle, clock.Now()); err != nil {
				t.Errorf("served certificate rejected after repair: %v", err)
			}
			// Other replicas still serve the certificate from before: the
			// repair keeps its CA in the bundle.
			if err := apiServerAccepts(before, bundle, clock.Now()); err != nil {
				t.Errorf("the certificate served before the repair is rejected after it: %v", err)
			}
		})
	}
}

func TestMissingWebhookConfigurationIsNotFatal(t *testing.T) {
	clock := &fakeClock{t: t0}
	c := fake.NewClientset()
	m := newTestManager(t, clock, nil)
	if _, err := m.reconcile(context.Background(), c, testLogger()); err != nil {
		t.Fatalf("reconcile without a webhook configuration: %v", err)
	}
	if len(getSecret(t, c).Data[corev1.TLSCertKey]) == 0 {
		t.Error("no serving certificate issued")
	}
}

// refusingHolder refuses every certificate, as a server would refuse a pair
// that does not load.
type refusingHolder struct{}

func (refusingHolder) SetCertificate([]byte, []byte) error {
	return errors.New("certificate refused")
}

func TestRun(t *testing.T) {
	t.Run("serves, then stops on cancel", func(t *testing.T) {
		c := fake.NewClientset(webhookConfig())
		m := newTestManager(t, &fakeClock{}, nil)
		m.now = time.Now
		m.holder.(serverHolder).SetClock(time.Now)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- m.Run(ctx, c, testLogger()) }()
		deadline := time.After(time.Minute)
		for m.holder.(serverHolder).Healthy() != nil {
			select {
			case err := <-done:
				t.Fatalf("Run returned before the first certificate: %v", err)
			case <-deadline:
				t.Fatal("no certificate handed over in a minute")
			case <-time.After(5 * time.Millisecond):
			}
		}
		if !bytes.Equal(servedPair(t, m).CertPEM, getSecret(t, c).Data[corev1.TLSCertKey]) {
			t.Error("the server does not serve the Secret's certificate")
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run() after cancel = %v, want nil", err)
		}
	})
	t.Run("a refused certificate is an error", func(t *testing.T) {
		c := fake.NewClientset(webhookConfig())
		m := newTestManagerFor(t, &fakeClock{}, nil, refusingHolder{})
		m.now = time.Now
		err := m.Run(context.Background(), c, testLogger())
		if !errors.Is(err, ErrHandOver) {
			t.Fatalf("Run() = %v, want ErrHandOver", err)
		}
	})
	t.Run("nil client", func(t *testing.T) {
		m := newTestManager(t, &fakeClock{}, nil)
		if err := m.Run(context.Background(), nil, nil); err == nil {
			t.Fatal("Run with a nil client returned nil")
		}
	})
}
