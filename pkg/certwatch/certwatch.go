package certwatch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// DefaultInterval is how often a Watcher polls its files unless told otherwise.
const DefaultInterval = 5 * time.Second

// ExpiryWarning is how close to its expiry the served certificate must be
// for Warning to say so.
const ExpiryWarning = 15 * time.Minute

// ErrNoCertificate is returned while no certificate and key have loaded yet.
var ErrNoCertificate = errors.New("no TLS certificate loaded yet")

// ErrExpired is wrapped by Healthy once the certificate in use has expired:
// no client can verify it, and no valid pair has replaced it.
var ErrExpired = errors.New("the served TLS certificate has expired")

// Observer is told about the certificates a Watcher serves and the loads
// that fail, for metrics and alerts. Implementations must be safe for
// concurrent use.
type Observer interface {
	// ObserveCertificate records the expiry of the certificate now served.
	ObserveCertificate(notAfter time.Time)
	// ObserveReloadFailure records a load that failed: files or a hand-over
	// that do not form a valid, current pair. Files still missing before the
	// first good load are a wait, not a failure, and are not counted.
	ObserveReloadFailure()
}

type nopObserver struct{}

func (nopObserver) ObserveCertificate(time.Time) {}
func (nopObserver) ObserveReloadFailure()        {}

// Watcher holds the certificate and key loaded from a pair of PEM files and
// reloads them when they change. It is safe for concurrent use.
type Watcher struct {
	certFile, keyFile string
	interval          time.Duration
	log               *slog.Logger
	observer          Observer
	now               func() time.Time

	mu         sync.RWMutex
	cert       *tls.Certificate
	certPEM    []byte // contents that produced cert
	keyPEM     []byte
	lastErr    error  // from the last load that failed, nil after a good one
	lastErrMsg string // the last error logged, so a stuck file logs once
}

// New returns a Watcher for certFile and keyFile that polls every interval
// (DefaultInterval if not positive) once Run is called. It loads nothing yet.
// With both files empty the Watcher serves only what Set hands it.
func New(certFile, keyFile string, interval time.Duration, log *slog.Logger) *Watcher {
	if interval <= 0 {
		interval = DefaultInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Watcher{certFile: certFile, keyFile: keyFile, interval: interval, log: log, observer: nopObserver{}, now: time.Now}
}

// SetObserver makes the Watcher report to o. Call it before Reload, Set or Run.
func (w *Watcher) SetObserver(o Observer) {
	if o == nil {
		o = nopObserver{}
	}
	w.observer = o
}

// Reload reads both files now and, if their content differs from the pair in
// use and forms a valid certificate and key, starts serving it. It reports
// whether the certificate changed. On error the pair in use is kept. A
// Watcher without files has nothing to reload.
func (w *Watcher) Reload() (changed bool, err error) {
	if w.certFile == "" && w.keyFile == "" {
		return false, nil
	}
	certPEM, keyPEM, err := w.read()
	return w.load(certPEM, keyPEM, err, w.certFile)
}

// Set serves the given PEM certificate (chain) and key, checked as Reload
// checks files: the hand-over from a certificate holder in the same process
// (the built-in certificate mode, --self-signed). Use it on a Watcher made
// without files; on one with files, the next change to the files wins.
func (w *Watcher) Set(certPEM, keyPEM []byte) (changed bool, err error) {
	return w.load(certPEM, keyPEM, nil, "handed over in process")
}

// load swaps in certPEM and keyPEM unless readErr is set, they are the pair
// in use, or they do not form a valid pair. source names where they came
// from, for the log.
//
// A pair is valid when the certificate matches the key and the first
// certificate (the one served) is valid now: one that is not yet valid or
// has expired would fail every handshake, so the previous pair is the better
// one to serve.
func (w *Watcher) load(certPEM, keyPEM []byte, readErr error, source string) (changed bool, err error) {
	err = readErr
	if err == nil {
		w.mu.RLock()
		same := w.cert != nil && bytes.Equal(certPEM, w.certPEM) && bytes.Equal(keyPEM, w.keyPEM)
		w.mu.RUnlock()
		if same {
			return false, nil
		}
	}
	var cert tls.Certificate
	if err == nil {
		cert, err = tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			if w.certFile != "" {
				err = fmt.Errorf("loading TLS certificate %s and key %s: %w", w.certFile, w.keyFile, err)
			} else {
				err = fmt.Errorf("loading TLS certificate and key: %w", err)
			}
		} else {
			err = w.current(cert.Leaf, source)
		}
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.cert != nil || !errors.Is(err, os.ErrNotExist) {
			w.observer.ObserveReloadFailure()
		}
		w.lastErr = err
		if msg := err.Error(); msg != w.lastErrMsg {
			w.lastErrMsg = msg
			if w.cert != nil {
				w.log.Warn("new TLS certificate does not load; still serving the previous certificate", slog.String("error", msg))
			} else {
				w.log.Warn("waiting for a valid TLS certificate and key", slog.String("error", msg))
			}
		}
		return false, err
	}
	w.cert, w.certPEM, w.keyPEM = &cert, certPEM, keyPEM
	w.lastErr, w.lastErrMsg = nil, ""
	attrs := []any{slog.String("source", source)}
	if leaf := cert.Leaf; leaf != nil {
		attrs = append(attrs,
			slog.String("subject", leaf.Subject.String()),
			slog.String("serial", leaf.SerialNumber.String()),
			slog.Time("notAfter", leaf.NotAfter))
		w.observer.ObserveCertificate(leaf.NotAfter)
	}
	w.log.Info("loaded TLS certificate", attrs...)
	return true, nil
}

// current returns an error unless leaf is valid now.
func (w *Watcher) current(leaf *x509.Certificate, source string) error {
	if leaf == nil {
		return fmt.Errorf("TLS certificate (%s): no certificate parsed", source)
	}
	now := w.now()
	if now.Before(leaf.NotBefore) {
		return fmt.Errorf("TLS certificate (%s, serial %s) is not valid until %s", source, leaf.SerialNumber, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if now.After(leaf.NotAfter) {
		return fmt.Errorf("TLS certificate (%s, serial %s) expired at %s", source, leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func (w *Watcher) read() (certPEM, keyPEM []byte, err error) {
	if certPEM, err = os.ReadFile(w.certFile); err != nil {
		return nil, nil, fmt.Errorf("reading TLS certificate: %w", err)
	}
	if keyPEM, err = os.ReadFile(w.keyFile); err != nil {
		return nil, nil, fmt.Errorf("reading TLS private key: %w", err)
	}
	return certPEM, keyPEM, nil
}

// Run loads the files, then polls them every interval until ctx is done.
// Errors are logged (once per distinct error) and reported by Healthy; Run
// itself never fails.
func (w *Watcher) Run(ctx context.Context) {
	if w.certFile == "" && w.keyFile == "" {
		<-ctx.Done()
		return
	}
	wait.UntilWithContext(ctx, func(context.Context) {
		_, _ = w.Reload() // errors are logged and kept for Healthy
	}, w.interval)
}

// GetCertificate returns the certificate in use, for tls.Config.GetCertificate.
func (w *Watcher) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.cert == nil {
		return nil, ErrNoCertificate
	}
	return w.cert, nil
}

// Healthy returns nil while a certificate is loaded and has not expired, so
// handshakes can succeed. Otherwise it returns an error that wraps
// ErrNoCertificate or ErrExpired and says why. A failed reload after a good
// load leaves the Watcher healthy: the previous certificate is still served.
func (w *Watcher) Healthy() error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.cert != nil {
		if leaf := w.cert.Leaf; leaf != nil && w.now().After(leaf.NotAfter) {
			err := fmt.Errorf("%w at %s", ErrExpired, leaf.NotAfter.UTC().Format(time.RFC3339))
			if w.lastErr != nil {
				err = fmt.Errorf("%w; its replacement does not load: %w", err, w.lastErr)
			}
			return err
		}
		return nil
	}
	if w.lastErr != nil {
		return fmt.Errorf("%w: %w", ErrNoCertificate, w.lastErr)
	}
	return ErrNoCertificate
}

// Warning returns a message when the certificate in use expires within
// ExpiryWarning, and "" otherwise (also when none is loaded or it has
// expired: Healthy reports those).
func (w *Watcher) Warning() string {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.cert == nil || w.cert.Leaf == nil {
		return ""
	}
	left := w.cert.Leaf.NotAfter.Sub(w.now())
	if left < 0 || left > ExpiryWarning {
		return ""
	}
	return fmt.Sprintf("the served TLS certificate expires at %s, in %s, and no renewed one has loaded",
		w.cert.Leaf.NotAfter.UTC().Format(time.RFC3339), left.Round(time.Second))
}

// SetClock replaces the clock that validity and expiry are judged by (the
// system clock by default), for tests that run a certificate's lifetime in
// moments. Call it before Reload, Set or Run.
func (w *Watcher) SetClock(now func() time.Time) {
	if now == nil {
		now = time.Now
	}
	w.now = now
}
