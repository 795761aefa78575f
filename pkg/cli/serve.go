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

	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
	"github.com/secure-defaults/secure-defaults/pkg/selfsigned"
	"github.com/secure-defaults/secure-defaults/pkg/server"
	"github.com/secure-defaults/secure-defaults/pkg/version"
)

// sampleReview is the AdmissionReview the --self-signed hint sends, relative
// to the repository root.
const sampleReview = "hack/sample-review.json"

// serveOptions are the flags of `serve`: the server's, plus --self-signed.
type serveOptions struct {
	*server.Options
	// SelfSigned makes a throwaway CA and serving certificate for localhost
	// in a temporary directory, instead of --tls-cert-file and
	// --tls-private-key-file. For trying the webhook locally only.
	SelfSigned bool
}

func newServeOptions() *serveOptions {
	return &serveOptions{Options: server.NewOptions()}
}

// AddFlags registers the flags of serve on fs.
func (o *serveOptions) AddFlags(fs *flag.FlagSet) {
	o.Options.AddFlags(fs)
	fs.BoolVar(&o.SelfSigned, "self-signed", o.SelfSigned, "generate a throwaway CA and certificate for localhost and print a curl command to try the webhook (local use only)")
}

// Validate reports every invalid flag at once.
func (o *serveOptions) Validate() error {
	if !o.SelfSigned {
		return o.Options.Validate()
	}
	var errs []error
	if o.CertFile != "" || o.KeyFile != "" {
		errs = append(errs, errors.New("--self-signed makes its own certificate: drop --tls-cert-file and --tls-private-key-file"))
	}
	placeholder := *o.Options
	placeholder.CertFile, placeholder.KeyFile = "self-signed", "self-signed"
	return errors.Join(append(errs, placeholder.Validate())...)
}

func runServe(ctx context.Context, args []string, s IO) int {
	o := newServeOptions()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	o.AddFlags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: secure-defaults serve [flags]\n\nRun the mutating admission webhook: HTTPS POST /mutate, plain-HTTP /metrics, /healthz, /readyz.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.Err, "secure-defaults serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := o.Validate(); err != nil {
		fmt.Fprintf(s.Err, "secure-defaults serve: %v\n", err)
		return 2
	}
	log := s.Log
	if log == nil {
		log = slog.New(slog.NewJSONHandler(s.Err, nil))
	}

	var caFile string
	if o.SelfSigned {
		dir, err := os.MkdirTemp("", "secure-defaults-")
		if err != nil {
			log.Error("creating a directory for the self-signed certificate", slog.String("error", err.Error()))
			return 1
		}
		defer os.RemoveAll(dir)
		if caFile, err = writeSelfSigned(dir, o.Options); err != nil {
			log.Error("making a self-signed certificate", slog.String("error", err.Error()))
			return 1
		}
	}

	m := metrics.New(version.Version, version.Commit)
	srv, err := server.New(*o.Options, admission.NewHandler(m, log), m, log)
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults serve: %v\n", err)
		return 2
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-runCtx.Done():
				return
			case <-hup:
				if err := srv.ReloadCertificate(); err != nil {
					log.Warn("SIGHUP: certificate reload failed; keeping the previous one", slog.String("error", err.Error()))
				}
			case <-srv.Started():
				if caFile != "" {
					printTryIt(s, caFile, srv.Addr(), srv.MetricsAddr())
					caFile = ""
				}
			}
		}
	}()

	if err := srv.Run(runCtx); err != nil {
		log.Error("server stopped with an error", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

// writeSelfSigned generates a CA and serving certificate for localhost into
// dir, points o at them and returns the CA file.
func writeSelfSigned(dir string, o *server.Options) (string, error) {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(o.Listen); err == nil && h != "" && !net.ParseIP(h).IsUnspecified() && h != "localhost" {
		hosts = append(hosts, h)
	}
	b, err := selfsigned.Generate(selfsigned.Options{Hosts: hosts})
	if err != nil {
		return "", err
	}
	caFile := filepath.Join(dir, "ca.crt")
	o.CertFile, o.KeyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	for _, f := range []struct {
		path string
		data []byte
	}{{caFile, b.CACert}, {o.CertFile, b.Cert}, {o.KeyFile, b.Key}} {
		if err := os.WriteFile(f.path, f.data, 0o600); err != nil {
			return "", err
		}
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
