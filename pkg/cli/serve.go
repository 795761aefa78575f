package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/builtincert"
	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
	"github.com/secure-defaults/secure-defaults/pkg/server"
	"github.com/secure-defaults/secure-defaults/pkg/version"
)

// sampleReview is the AdmissionReview the --self-signed hint sends, relative
// to the repository root.
const sampleReview = "hack/sample-review.json"

// Certificate modes of serve.
const (
	// certModeFiles serves --tls-cert-file/--tls-private-key-file as given
	// (by cert-manager, or any other tool that writes them).
	certModeFiles = "files"
	// certModeBuiltin generates and rotates them itself: a CA and serving
	// certificate in a Secret, and the webhook configuration's caBundle. The
	// serving certificate goes to the server in memory, never to a file.
	certModeBuiltin = "builtin"
)

// serveOptions are the flags of `serve`: the server's, the certificate mode
// and, for local use, --self-signed.
type serveOptions struct {
	*server.Options
	// SelfSigned makes a throwaway CA and serving certificate for localhost,
	// served from memory instead of --tls-cert-file and
	// --tls-private-key-file; only the CA is written (to a temporary
	// directory, for curl). For trying the webhook locally only.
	SelfSigned bool
	// CertMode is certModeFiles or certModeBuiltin.
	CertMode string
	// Certs configures the built-in certificate mode.
	Certs *builtincert.Options
	// Kubeconfig is used by the built-in mode outside a cluster; in a pod it
	// is empty and the in-cluster configuration is used.
	Kubeconfig string
	// ConfigFile is the configuration file (package config); empty for the
	// shipped defaults. It is re-read every ConfigPollInterval and on SIGHUP.
	ConfigFile         string
	ConfigPollInterval time.Duration
}

func newServeOptions() *serveOptions {
	return &serveOptions{Options: server.NewOptions(), CertMode: certModeFiles, Certs: builtincert.NewOptions(), ConfigPollInterval: config.DefaultPollInterval}
}

// AddFlags registers the flags of serve on fs.
func (o *serveOptions) AddFlags(fs *flag.FlagSet) {
	o.Options.AddFlags(fs)
	fs.BoolVar(&o.SelfSigned, "self-signed", o.SelfSigned, "generate a throwaway CA and certificate for localhost and print a curl command to try the webhook (local use only)")
	fs.StringVar(&o.CertMode, "cert-mode", o.CertMode, "files: serve --tls-cert-file/--tls-private-key-file as given (e.g. by cert-manager); builtin: generate and rotate them, keeping a Secret and the webhook configuration's caBundle current")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "kubeconfig file to reach the API server from outside a cluster, for the built-in cert mode and imageLookup.pullSecrets (default: the in-cluster configuration)")
	o.Certs.AddFlags(fs)
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile, "configuration file (kind: Configuration, "+config.APIVersion+"); reloaded when it changes, a file that does not load keeps the previous configuration")
	fs.DurationVar(&o.ConfigPollInterval, "config-reload-interval", o.ConfigPollInterval, "how often to check --config for changes (SIGHUP reloads it at once)")
}

// Validate reports every invalid flag at once.
func (o *serveOptions) Validate() error {
	if o.ConfigPollInterval <= 0 {
		return fmt.Errorf("--config-reload-interval %s: must be positive", o.ConfigPollInterval)
	}
	switch o.CertMode {
	case certModeFiles:
	case certModeBuiltin:
		if o.SelfSigned {
			return errors.New("--self-signed and --cert-mode=builtin both make a certificate: choose one")
		}
		var errs []error
		if o.CertFile != "" || o.KeyFile != "" {
			errs = append(errs, errors.New("--cert-mode=builtin hands the certificate to the server in memory: drop --tls-cert-file and --tls-private-key-file"))
		}
		return errors.Join(append(errs, o.Certs.Validate(), o.Options.Validate())...)
	default:
		return fmt.Errorf("--cert-mode must be %q or %q, got %q", certModeFiles, certModeBuiltin, o.CertMode)
	}
	var errs []error
	switch {
	case o.SelfSigned && (o.CertFile != "" || o.KeyFile != ""):
		errs = append(errs, errors.New("--self-signed makes its own certificate: drop --tls-cert-file and --tls-private-key-file"))
	case !o.SelfSigned:
		if o.CertFile == "" {
			errs = append(errs, errors.New("--tls-cert-file is required"))
		}
		if o.KeyFile == "" {
			errs = append(errs, errors.New("--tls-private-key-file is required"))
		}
	}
	return errors.Join(append(errs, o.Options.Validate())...)
}

const serveUsage = `Usage: secure-defaults serve [flags]

Run the mutating admission webhook: HTTPS POST /mutate and /audit, plain-HTTP /metrics, /healthz, /readyz.

Flags:
`

func runServe(ctx context.Context, args []string, s IO) int {
	o := newServeOptions()
	fs := newFlagSet("serve", serveUsage, o.AddFlags)
	if code, ok := parseOptions("serve", fs, args, s, "", o.Validate); !ok {
		return code
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(s.Err, nil))
	}
	// Errors may quote a request (an 8 MiB apiVersion): no log value may
	// grow with the input.
	log = slog.New(server.TruncatingHandler(log.Handler(), server.MaxLogValue))

	m := metrics.New(version.Version, version.Commit)
	handler := admission.NewHandler(m, log)
	var cfg *config.Watcher
	if o.ConfigFile != "" {
		var err error
		if cfg, err = config.NewWatcher(o.ConfigFile, o.ConfigPollInterval, m, log); err != nil {
			fmt.Fprintf(s.Err, "secure-defaults serve: %v\n", err)
			return 1
		}
		handler.SetOptions(cfg.Options)
		lookups := &imageLookups{current: cfg.Current, observer: m, log: log, kubeconfig: o.Kubeconfig}
		handler.SetImageLookup(lookups.get)
	}
	srv, err := server.New(*o.Options, handler, m, log)
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults serve: %v\n", err)
		return 2
	}

	var caFile string
	if o.SelfSigned {
		dir, err := os.MkdirTemp("", "secure-defaults-")
		if err != nil {
			log.Error("creating a directory for the self-signed CA", slog.String("error", err.Error()))
			return 1
		}
		defer os.RemoveAll(dir)
		if caFile, err = serveSelfSigned(dir, o.Listen, srv); err != nil {
			log.Error("making a self-signed certificate", slog.String("error", err.Error()))
			return 1
		}
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.CertMode == certModeBuiltin {
		if err := startBuiltinCerts(runCtx, cancel, o, srv, log); err != nil {
			log.Error("starting the built-in certificate manager", slog.String("error", err.Error()))
			return 1
		}
	}

	if cfg != nil {
		go cfg.Run(runCtx)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		// Started is closed once and stays closed: select on it only until then,
		// or this loop would spin for the life of the process.
		started := srv.Started()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
				if err := srv.ReloadCertificate(); err != nil {
					log.Warn("SIGHUP: certificate reload failed; keeping the previous one", slog.String("error", err.Error()))
				}
				if cfg != nil {
					_, _ = cfg.Reload() // a failure is logged and counted by the watcher
				}
			case <-started:
				started = nil
				if caFile != "" {
					printTryIt(s, caFile, srv.Addr(), srv.MetricsAddr())
				}
			}
		}
	}()

	if err := srv.Run(runCtx); err != nil {
		log.Error("server stopped with an error", slog.String("error", err.Error()))
		return 1
	}
	if ctx.Err() == nil {
		// runCtx was cancelled by the certificate manager, not by a signal.
		return 1
	}
	return 0
}

// startBuiltinCerts runs the built-in certificate manager in the background.
// It hands every serving certificate it issues to srv, which reports not
// ready until the first arrives. If the manager stops with an error (it
// retries API errors itself), cancel stops the server too, so the pod
// restarts rather than serve a certificate nobody renews.
func startBuiltinCerts(ctx context.Context, cancel context.CancelFunc, o *serveOptions, srv *server.Server, log *slog.Logger) error {
	var cfg *rest.Config
	var err error
	if o.Kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.Kubeconfig)
	} else {
		cfg, err = rest.InClusterConfig()
	}
	if err != nil {
		return fmt.Errorf("API server configuration: %w", err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("API client: %w", err)
	}
	mgr, err := builtincert.New(o.Certs, srv)
	if err != nil {
		return err
	}
	go func() {
		if err := mgr.Run(ctx, client, log); err != nil && ctx.Err() == nil {
			log.Error("certificate manager stopped", slog.String("error", err.Error()))
			cancel()
		}
	}()
	return nil
}

// serveSelfSigned makes a throwaway CA and a serving certificate for
// localhost (and the host of listen, if it names one), hands the certificate
// to srv and writes the CA into dir for curl. It returns the CA file.
func serveSelfSigned(dir, listen string, srv *server.Server) (string, error) {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() && h != "localhost" {
		hosts = append(hosts, h)
	}
	b, err := pki.Throwaway(pki.ThrowawayOptions{Hosts: hosts})
	if err != nil {
		return "", err
	}
	if err := srv.SetCertificate(b.Serving.CertPEM, b.Serving.KeyPEM); err != nil {
		return "", err
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, b.CA.CertPEM, 0o600); err != nil {
		return "", err
	}
	return caFile, nil
}

// printTryIt prints the commands that send the sample review to the running
// server and check its health.
func printTryIt(s IO, caFile string, addr, metricsAddr net.Addr) {
	fmt.Fprintf(s.Out, `secure-defaults is serving with a throwaway certificate (CA: %[1]s).
Send it the sample review, from the repository root:

  curl --cacert %[1]s -H 'Content-Type: application/json' --data-binary @%[2]s %[3]s

The patch it answers with, decoded (needs jq):

  curl -s --cacert %[1]s -H 'Content-Type: application/json' --data-binary @%[2]s %[3]s | jq -r .response.patch | base64 -d | jq .

Health and metrics:

  curl %[4]s
  curl %[5]s

`, caFile, sampleReview, urlFor("https", addr, "/mutate"), urlFor("http", metricsAddr, "/readyz"), urlFor("http", metricsAddr, "/metrics"))
}

// urlFor is the URL of path on addr, with localhost for a wildcard address.
func urlFor(scheme string, addr net.Addr, path string) string {
	host, port := "localhost", ""
	if tcp, ok := addr.(*net.TCPAddr); ok {
		port = strconv.Itoa(tcp.Port)
		if !tcp.IP.IsUnspecified() && !tcp.IP.IsLoopback() {
			host = tcp.IP.String()
		}
	}
	return fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, port), path)
}
