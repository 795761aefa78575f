package builtincert

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

// ErrHandOver marks a serving certificate the Holder refused. Run returns it
// instead of retrying: the pair comes from this package, so a refusal is a
// defect, not a passing API hiccup, and a restart starts from a clean state.
var ErrHandOver = errors.New("handing the serving certificate to the server")

// Holder takes the serving certificate and key the Manager issues and serves
// them from the next handshake on (*server.Server does). It refuses a pair
// that does not load, keeping the previous one.
type Holder interface {
	SetCertificate(certPEM, keyPEM []byte) error
}

// Manager keeps the webhook's certificates current. Create it with New, then
// call Run once.
type Manager struct {
	opts   Options
	holder Holder
	now    func() time.Time

	// handedOver is the serving certificate last given to the holder.
	handedOver []byte
	// lastBundlePatch is when this manager last changed the caBundle.
	lastBundlePatch time.Time
}

// New returns a Manager for validated options that hands every serving
// certificate to holder.
func New(opts *Options, holder Holder) (*Manager, error) {
	if opts == nil || holder == nil {
		return nil, errors.New("builtincert: options and a certificate holder are required")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Manager{opts: *opts, holder: holder, now: time.Now}, nil
}

// Run keeps the Secret, the caBundle and the holder's certificate current
// until ctx is done, retrying API errors with backoff. It returns nil when
// ctx is cancelled, and an error wrapping ErrHandOver when the holder refuses
// a certificate.
func (m *Manager) Run(ctx context.Context, client kubernetes.Interface, logger *slog.Logger) error {
	if client == nil {
		return errors.New("builtincert: nil Kubernetes client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "builtincert", "secret", m.opts.Namespace+"/"+m.opts.SecretName)
	const minBackoff = time.Second
	backoff := minBackoff
	for {
		next, err := m.reconcile(ctx, client, logger)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrHandOver):
			return err
		case err != nil:
			logger.Error("certificate check failed, will retry", "err", err, "retryIn", backoff.String())
			wait = backoff
			backoff = min(2*backoff, m.opts.CheckInterval)
		default:
			backoff = minBackoff
			wait = next.Sub(m.now())
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// reconcile makes one pass: Secret (CA first), caBundle, serving certificate,
// hand-over to the holder. It returns when the next pass is due.
func (m *Manager) reconcile(ctx context.Context, client kubernetes.Interface, log *slog.Logger) (time.Time, error) {
	var st state
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var err error
		st, err = m.reconcileSecret(ctx, client, log)
		return err
	})
	if err != nil {
		return time.Time{}, err
	}
	if err := m.handOver(st.serving, log); err != nil {
		return time.Time{}, err
	}
	return m.nextCheck(st, m.now()), nil
}

// reconcileSecret reads (or creates) the Secret, renews the CA if due,
// publishes the bundle, then renews the serving certificate if due. A
// resourceVersion conflict aborts the pass so it is retried on fresh data.
func (m *Manager) reconcileSecret(ctx context.Context, client kubernetes.Interface, log *slog.Logger) (state, error) {
	secrets := client.CoreV1().Secrets(m.opts.Namespace)
	sec, err := m.getOrCreateSecret(ctx, client, log)
	if err != nil {
		return state{}, err
	}
	st := decodeState(sec.Data)
	now := m.now()
	if st.signer == nil {
		// The Secret lost its CA: a new one is made, and the CAs the API
		// servers trust now stay trusted until they expire, so the other
		// replicas' certificates keep working while they catch up.
		st.bundle = append(st.bundle, m.publishedCAs(ctx, client)...)
	}

	reason, err := m.planCA(&st, now)
	if err != nil {
		return state{}, err
	}
	if reason != "" {
		// A serving certificate is needed to write a complete Secret; keep the
		// current one unless it is unusable (planServing decides, never
		// switching CA here).
		if _, err := m.planServing(&st, now, false); err != nil {
			return state{}, err
		}
		if sec, err = m.updateSecret(ctx, secrets, sec, st); err != nil {
			return state{}, err
		}
		log.Info("trust bundle updated", "reason", reason, "cas", len(st.bundle), "signerNotAfter", st.signer.Cert.NotAfter.UTC().Format(time.RFC3339))
	}

	inSync, err := m.syncWebhook(ctx, client, pki.EncodeCerts(st.bundle), log)
	if err != nil {
		return state{}, err
	}
	switchOK := inSync && !now.Before(m.switchAllowedAt(st.signer.Cert))
	reason, err = m.planServing(&st, now, switchOK)
	if err != nil {
		return state{}, err
	}
	if reason != "" {
		if _, err = m.updateSecret(ctx, secrets, sec, st); err != nil {
			return state{}, err
		}
		log.Info("serving certificate issued", "reason", reason, "serial", st.serving.Cert.SerialNumber.Text(16), "notAfter", st.serving.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	return st, nil
}

func (m *Manager) getOrCreateSecret(ctx context.Context, client kubernetes.Interface, log *slog.Logger) (*corev1.Secret, error) {
	secrets := client.CoreV1().Secrets(m.opts.Namespace)
	sec, err := secrets.Get(ctx, m.opts.SecretName, metav1.GetOptions{})
	if err == nil {
		return sec, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("reading Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	// A Secret deleted and recreated keeps the CAs already published (see
	// reconcileSecret).
	st := state{bundle: m.publishedCAs(ctx, client)}
	now := m.now()
	if _, err := m.planCA(&st, now); err != nil {
		return nil, err
	}
	if _, err := m.planServing(&st, now, true); err != nil {
		return nil, err
	}
	sec = &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      m.opts.SecretName,
			Namespace: m.opts.Namespace,
			Labels: map[string]string{
				"app.kubernetes.io/name":       "secure-defaults",
				"app.kubernetes.io/component":  "webhook-certificate",
				"app.kubernetes.io/managed-by": "secure-defaults",
			},
		},
		Type: corev1.SecretTypeTLS,
		Data: st.encode(),
	}
	created, err := secrets.Create(ctx, sec, metav1.CreateOptions{})
	switch {
	case err == nil:
		log.Info("created certificate Secret", "signerNotAfter", st.signer.Cert.NotAfter.UTC().Format(time.RFC3339))
		return created, nil
	case apierrors.IsAlreadyExists(err):
		// Another replica won the race: use what it wrote.
		sec, err = secrets.Get(ctx, m.opts.SecretName, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s after losing the race to create it: %w", m.opts.Namespace, m.opts.SecretName, err)
		}
		return sec, nil
	default:
		return nil, fmt.Errorf("creating Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
}

// updateSecret writes st with sec's resourceVersion; a conflict comes back as
// is so the caller retries on fresh data.
func (m *Manager) updateSecret(ctx context.Context, secrets interface {
	Update(context.Context, *corev1.Secret, metav1.UpdateOptions) (*corev1.Secret, error)
}, sec *corev1.Secret, st state) (*corev1.Secret, error) {
	next := sec.DeepCopy()
	next.Data = st.encode()
	updated, err := secrets.Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		if apierrors.IsConflict(err) {
			return nil, err
		}
		return nil, fmt.Errorf("updating Secret %s/%s: %w", m.opts.Namespace, m.opts.SecretName, err)
	}
	return updated, nil
}

// maxKeptCAs bounds the CAs carried over from a published caBundle.
const maxKeptCAs = 8

// publishedCAs returns the CAs of the caBundle now published on the entries
// of the webhook configuration that point at our Service (at most
// maxKeptCAs; planCA drops expired ones). Errors read as none: this only
// softens a repair.
func (m *Manager) publishedCAs(ctx context.Context, client kubernetes.Interface) []*x509.Certificate {
	cfg, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, m.opts.WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	var out []*x509.Certificate
	for _, w := range cfg.Webhooks {
		svc := w.ClientConfig.Service
		if svc == nil || svc.Name != m.opts.ServiceName || svc.Namespace != m.opts.Namespace {
			continue
		}
		certs, err := pki.ParseCerts(w.ClientConfig.CABundle)
		if err != nil {
			continue
		}
		for _, c := range certs {
			if c.IsCA && len(out) < maxKeptCAs && !slices.ContainsFunc(out, c.Equal) {
				out = append(out, c)
			}
		}
	}
	return out
}

// syncWebhook sets caBundle on every entry of the webhook configuration whose
// clientConfig.service is our Service. It reports whether every such entry
// already had it (so the API servers have had a chance to see it). A missing
// configuration, or one without such entries, is logged and counts as in sync:
// there is nothing to protect.
func (m *Manager) syncWebhook(ctx context.Context, client kubernetes.Interface, bundle []byte, log *slog.Logger) (bool, error) {
	configs := client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	inSync := true
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		inSync = true
		cfg, err := configs.Get(ctx, m.opts.WebhookConfigurationName, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			log.Warn("MutatingWebhookConfiguration not found; caBundle not published", "name", m.opts.WebhookConfigurationName)
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading MutatingWebhookConfiguration %s: %w", m.opts.WebhookConfigurationName, err)
		}
		matched := 0
		cfg = cfg.DeepCopy()
		for i := range cfg.Webhooks {
			svc := cfg.Webhooks[i].ClientConfig.Service
			if svc == nil || svc.Name != m.opts.ServiceName || svc.Namespace != m.opts.Namespace {
				continue
			}
			matched++
			if !bytes.Equal(cfg.Webhooks[i].ClientConfig.CABundle, bundle) {
				cfg.Webhooks[i].ClientConfig.CABundle = bundle
				inSync = false
			}
		}
		if matched == 0 {
			log.Warn("no webhook in the MutatingWebhookConfiguration points at the Service; caBundle not published", "name", m.opts.WebhookConfigurationName, "service", m.opts.Namespace+"/"+m.opts.ServiceName)
			return nil
		}
		if inSync {
			return nil
		}
		if _, err := configs.Update(ctx, cfg, metav1.UpdateOptions{}); err != nil {
			if apierrors.IsConflict(err) {
				return err
			}
			return fmt.Errorf("updating caBundle of MutatingWebhookConfiguration %s: %w", m.opts.WebhookConfigurationName, err)
		}
		m.lastBundlePatch = m.now()
		log.Info("caBundle published", "name", m.opts.WebhookConfigurationName, "webhooks", matched)
		return nil
	})
	return inSync, err
}

// handOver gives the serving pair to the holder when it is not the one
// handed over last.
func (m *Manager) handOver(kp *pki.KeyPair, log *slog.Logger) error {
	if bytes.Equal(kp.CertPEM, m.handedOver) {
		return nil
	}
	if err := m.holder.SetCertificate(kp.CertPEM, kp.KeyPEM); err != nil {
		return fmt.Errorf("%w: %w", ErrHandOver, err)
	}
	m.handedOver = kp.CertPEM
	log.Info("serving certificate handed to the server", "serial", kp.Cert.SerialNumber.Text(16), "notAfter", kp.Cert.NotAfter.UTC().Format(time.RFC3339))
	return nil
}
