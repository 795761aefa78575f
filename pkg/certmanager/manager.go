package certmanager

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// ErrWriteFiles marks a failure to write the serving certificate or key to
// disk. Run returns it instead of retrying: it means a misconfigured pod (for
// example a read-only path), not a passing API hiccup.
var ErrWriteFiles = errors.New("writing the serving certificate files")

// Manager keeps the webhook's certificates current. Create it with New, then
// call Run once.
type Manager struct {
	opts  Options
	now   func() time.Time
	ready chan struct{}
	once  sync.Once

	// lastBundlePatch is when this manager last changed the caBundle.
	lastBundlePatch time.Time
}

// New returns a Manager for validated options.
func New(opts *Options) (*Manager, error) {
	if opts == nil {
		return nil, errors.New("certmanager: nil options")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Manager{opts: *opts, now: time.Now, ready: make(chan struct{})}, nil
}

// Ready is closed once the serving certificate and key have first been written
// to CertFile and KeyFile, so the HTTPS server can start serving.
func (m *Manager) Ready() <-chan struct{} { return m.ready }

// Run keeps the Secret, the caBundle and the files current until ctx is done,
// retrying API errors with backoff. It returns nil when ctx is cancelled, and
// an error wrapping ErrWriteFiles when the files cannot be written.
func (m *Manager) Run(ctx context.Context, client kubernetes.Interface, logger *slog.Logger) error {
	if client == nil {
		return errors.New("certmanager: nil Kubernetes client")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "certmanager", "secret", m.opts.Namespace+"/"+m.opts.SecretName)
	const minBackoff = time.Second
	backoff := minBackoff
	for {
		next, err := m.reconcile(ctx, client, logger)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrWriteFiles):
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
// files. It returns when the next pass is due.
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
	if err := m.writeFiles(st.serving); err != nil {
		return time.Time{}, err
	}
	m.once.Do(func() {
		log.Info("serving certificate written", "certFile", m.opts.CertFile, "serial", st.serving.cert.SerialNumber.Text(16), "notAfter", st.serving.cert.NotAfter.UTC().Format(time.RFC3339))
		close(m.ready)
	})
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
		log.Info("trust bundle updated", "reason", reason, "cas", len(st.bundle), "signerNotAfter", st.signer.cert.NotAfter.UTC().Format(time.RFC3339))
	}

	inSync, err := m.syncWebhook(ctx, client, encodeBundle(st.bundle), log)
	if err != nil {
		return state{}, err
	}
	switchOK := inSync && !now.Before(m.switchAllowedAt(st.signer.cert))
	reason, err = m.planServing(&st, now, switchOK)
	if err != nil {
		return state{}, err
	}
	if reason != "" {
		if _, err = m.updateSecret(ctx, secrets, sec, st); err != nil {
			return state{}, err
		}
		log.Info("serving certificate issued", "reason", reason, "serial", st.serving.cert.SerialNumber.Text(16), "notAfter", st.serving.cert.NotAfter.UTC().Format(time.RFC3339))
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
	var st state
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
		log.Info("created certificate Secret", "signerNotAfter", st.signer.cert.NotAfter.UTC().Format(time.RFC3339))
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

// writeFiles puts the serving key and certificate where the server reads them,
// each by an atomic rename, and only when the content differs.
func (m *Manager) writeFiles(kp *keyPair) error {
	if err := writeIfChanged(m.opts.KeyFile, kp.keyPEM, 0o600); err != nil {
		return fmt.Errorf("%w: %w", ErrWriteFiles, err)
	}
	if err := writeIfChanged(m.opts.CertFile, kp.certPEM, 0o644); err != nil {
		return fmt.Errorf("%w: %w", ErrWriteFiles, err)
	}
	return nil
}

func writeIfChanged(path string, data []byte, perm os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
