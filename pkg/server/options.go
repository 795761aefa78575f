package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"
)

// DefaultMaxRequestBytes bounds a request body on /mutate: twice the API
// server's 3 MiB object limit (object and oldObject of an UPDATE) plus 2 MiB
// for the envelope and JSON re-encoding.
const DefaultMaxRequestBytes = 8 << 20

// Defaults of the bounds on work in flight. With them, a webhook under a
// flood of the largest reviews holds about three of them at once and keeps
// within a 128 MiB memory limit (docs/hardening.md has the measurements).
const (
	// DefaultMaxReviewsInFlight bounds the reviews processed at once. A
	// review is CPU work of about a millisecond; more at once than this only
	// adds memory and latency.
	DefaultMaxReviewsInFlight = 16
	// DefaultMaxBytesInFlight bounds the request bodies held at once.
	DefaultMaxBytesInFlight = 24 << 20
	// DefaultMaxConnections bounds the open connections to the webhook port;
	// the API server keeps a few per replica.
	DefaultMaxConnections = 1024
	// reservedBytes of the bytes in flight are kept for bodies of at most
	// smallBodyBytes, reviews of normal size, so large ones cannot starve
	// them.
	reservedBytes  = 8 << 20
	smallBodyBytes = 1 << 20
	// At most maxLargeInFlight reviews of bodies over largeBodyBytes are
	// processed at once: a pod's typed form takes many times its JSON
	// (10,000 containers in 840 KiB decode to about 20 MiB), and a normal
	// pod's review is a few KiB.
	largeBodyBytes   = 256 << 10
	maxLargeInFlight = 2
)

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
	// ClientCAFile, if set, is a PEM bundle of CAs: the webhook port then
	// requires a client certificate signed by one of them (the API server's,
	// configured with --admission-control-config-file). Read at start.
	ClientCAFile string
	// MaxReviewsInFlight bounds the reviews processed at once; a review that
	// cannot get a slot within half a second is answered 429.
	MaxReviewsInFlight int
	// MaxBytesInFlight bounds the request bodies held at once, counted as
	// they arrive; a body that would exceed it is answered 429.
	MaxBytesInFlight int64
	// MaxConnections bounds the open connections to the webhook port; more
	// wait in the listen backlog until one closes.
	MaxConnections int
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

		MaxReviewsInFlight: DefaultMaxReviewsInFlight,
		MaxBytesInFlight:   DefaultMaxBytesInFlight,
		MaxConnections:     DefaultMaxConnections,
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
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, "PEM CA bundle: require a client certificate signed by it on the webhook port (the API server's; see docs/hardening.md). Read at start")
	fs.IntVar(&o.MaxReviewsInFlight, "max-reviews-in-flight", o.MaxReviewsInFlight, "reviews processed at once; beyond it a review waits up to 0.5 s, then is answered 429")
	fs.Int64Var(&o.MaxBytesInFlight, "max-bytes-in-flight", o.MaxBytesInFlight, "request-body bytes held at once, counted as they arrive; beyond it a review is answered 429")
	fs.IntVar(&o.MaxConnections, "max-connections", o.MaxConnections, "open connections to the webhook port; more wait until one closes")
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
	if o.MaxReviewsInFlight <= 0 {
		errs = append(errs, fmt.Errorf("--max-reviews-in-flight %d: must be positive", o.MaxReviewsInFlight))
	}
	if o.MaxBytesInFlight < o.MaxRequestBytes+reservedBytes {
		errs = append(errs, fmt.Errorf("--max-bytes-in-flight %d: must be at least %d, the largest request (%d) plus %d kept for reviews of normal size",
			o.MaxBytesInFlight, o.MaxRequestBytes+reservedBytes, o.MaxRequestBytes, reservedBytes))
	}
	if o.MaxConnections <= 0 {
		errs = append(errs, fmt.Errorf("--max-connections %d: must be positive", o.MaxConnections))
	}
	if o.ClientCAFile != "" {
		if _, err := loadClientCAs(o.ClientCAFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// loadClientCAs reads a PEM bundle of client CAs.
func loadClientCAs(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--client-ca-file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--client-ca-file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// tls12Suites are the TLS 1.2 cipher suites offered: ECDHE with AEAD only
// (no CBC, no SHA-1 MACs, no static RSA key exchange). TLS 1.3 suites are
// not configurable and are all AEAD.
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
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
