package framework

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

// ServingCert is a certificate and key for a webhook server, signed by a
// throwaway CA.
type ServingCert struct {
	// CertFile and KeyFile are PEM files for the server (e.g. the webhook's
	// --tls-cert-file and --tls-private-key-file, or whatever it calls them).
	CertFile, KeyFile string
	// CAPEM is the CA certificate, for a webhook's clientConfig.caBundle.
	CAPEM []byte
}

// GenerateServingCert writes tls.crt and tls.key into dir: a serving
// certificate for hosts (IP addresses or DNS names; at least one) valid for a
// day, signed by a fresh CA that is returned in CAPEM, made by pkg/pki as
// for `secure-defaults serve --self-signed`.
func GenerateServingCert(dir string, hosts ...string) (*ServingCert, error) {
	if len(hosts) == 0 {
		return nil, errors.New("framework: GenerateServingCert needs at least one host")
	}
	b, err := pki.Throwaway(pki.ThrowawayOptions{Hosts: hosts})
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	sc := &ServingCert{
		CertFile: filepath.Join(dir, "tls.crt"),
		KeyFile:  filepath.Join(dir, "tls.key"),
		CAPEM:    b.CA.CertPEM,
	}
	if err := os.WriteFile(sc.CertFile, b.Serving.CertPEM, 0o600); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	if err := os.WriteFile(sc.KeyFile, b.Serving.KeyPEM, 0o600); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	return sc, nil
}
