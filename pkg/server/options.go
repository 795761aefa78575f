package server

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net"
	"time"
)

// DefaultMaxRequestBytes bounds a request body on /mutate: twice the API
// server's 3 MiB object limit (object and oldObject of an UPDATE) plus 2 MiB
// for the envelope and JSON re-encoding.
const DefaultMaxRequestBytes = 8 << 20

// Options configures the server. Create it with NewOptions for the defaults.
type Options struct {
	// Listen is the HTTPS address of POST /mutate.
	Listen string
	// MetricsListen is the plain-HTTP address of /metrics, /healthz and /readyz.
	MetricsListen string
	// CertFile and KeyFile are the PEM serving certificate (chain) and key.
	// They need not exist at start: the server waits for them, not ready,
	// and picks up every later change. Leave both empty when the caller hands
	// the certificate over with Server.SetCertificate instead.
	CertFile, KeyFile string
	// TLSMinVersion is "1.2" or "1.3".
	TLSMinVersion string
	// ShutdownTimeout bounds the drain of in-flight reviews after the context
	// is cancelled.
	ShutdownTimeout time.Duration
	// MaxRequestBytes bounds a request body; larger ones get 413.
	MaxRequestBytes int64
	// CertPollInterval is how often the certificate files are checked for
	// changes.
	CertPollInterval time.Duration
}

// NewOptions returns the default options.
func NewOptions() *Options {
	return &Options{
		Listen:           ":8443",
		MetricsListen:    ":8080",
		TLSMinVersion:    "1.2",
		ShutdownTimeout:  25 * time.Second,
		MaxRequestBytes:  DefaultMaxRequestBytes,
		CertPollInterval: 5 * time.Second,
	}
}

// AddFlags registers the options as flags on fs, with the current values as
// defaults.
func (o *Options) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", o.Listen, "HTTPS address for POST /mutate")
	fs.StringVar(&o.MetricsListen, "metrics-listen", o.MetricsListen, "plain-HTTP address for /metrics, /healthz and /readyz")
	fs.StringVar(&o.CertFile, "tls-cert-file", o.CertFile, "PEM serving certificate (with chain); reloaded when it changes, and waited for if missing at start")
	fs.StringVar(&o.KeyFile, "tls-private-key-file", o.KeyFile, "PEM private key of --tls-cert-file (ECDSA, RSA or Ed25519)")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", o.TLSMinVersion, "minimum TLS version: 1.2 or 1.3")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", o.ShutdownTimeout, "on SIGTERM, how long to wait for in-flight reviews before closing connections")
	fs.DurationVar(&o.CertPollInterval, "tls-reload-interval", o.CertPollInterval, "how often to check the certificate files for changes (SIGHUP reloads them at once)")
}

// Validate reports every invalid option at once.
func (o *Options) Validate() error {
	var errs []error
	for _, a := range []struct{ flag, addr string }{{"--listen", o.Listen}, {"--metrics-listen", o.MetricsListen}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: want host:port or :port: %w", a.flag, a.addr, err))
		}
	}
	if _, port, _ := net.SplitHostPort(o.Listen); o.Listen == o.MetricsListen && port != "0" {
		errs = append(errs, fmt.Errorf("--listen and --metrics-listen are both %q", o.Listen))
	}
	if o.CertFile == "" && o.KeyFile != "" {
		errs = append(errs, errors.New("--tls-private-key-file is set but --tls-cert-file is not"))
	}
	if o.KeyFile == "" && o.CertFile != "" {
		errs = append(errs, errors.New("--tls-cert-file is set but --tls-private-key-file is not"))
	}
	if _, err := o.tlsMinVersion(); err != nil {
		errs = append(errs, err)
	}
	if o.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--shutdown-timeout %s: must be positive", o.ShutdownTimeout))
	}
	if o.CertPollInterval <= 0 {
		errs = append(errs, fmt.Errorf("--tls-reload-interval %s: must be positive", o.CertPollInterval))
	}
	if o.MaxRequestBytes <= 0 {
		errs = append(errs, fmt.Errorf("maximum request size %d: must be positive", o.MaxRequestBytes))
	}
	return errors.Join(errs...)
}

func (o *Options) tlsMinVersion() (uint16, error) {
	switch o.TLSMinVersion {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	default:
		return 0, fmt.Errorf("--tls-min-version %q: want 1.2 or 1.3", o.TLSMinVersion)
	}
}
