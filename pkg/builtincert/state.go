package builtincert

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

// Keys of the Secret beyond the standard tls.crt, tls.key and ca.crt.
const (
	// SignerCertKey holds the CA certificate that issues serving certificates.
	SignerCertKey = "ca-signer.crt"
	// SignerKeyKey holds that CA's private key.
	SignerKeyKey = "ca-signer.key"
)

// state is the decoded content of the Secret. Parts that are missing or
// unreadable are nil, so that they are regenerated instead of failing forever.
type state struct {
	bundle  []*x509.Certificate // trusted CAs, published as caBundle
	signer  *pki.KeyPair        // issues serving certificates
	serving *pki.KeyPair        // what the server presents
}

func decodeState(data map[string][]byte) state {
	var st state
	if certs, err := pki.ParseCerts(data[corev1.ServiceAccountRootCAKey]); err == nil {
		for _, c := range certs {
			if c.IsCA {
				st.bundle = append(st.bundle, c)
			}
		}
	}
	if kp, err := pki.ParseKeyPair(data[SignerCertKey], data[SignerKeyKey]); err == nil && kp.Cert.IsCA {
		st.signer = kp
	}
	if kp, err := pki.ParseKeyPair(data[corev1.TLSCertKey], data[corev1.TLSPrivateKeyKey]); err == nil {
		st.serving = kp
	}
	return st
}

// encode renders the state as Secret data. Callers only encode complete states.
func (st state) encode() map[string][]byte {
	return map[string][]byte{
		corev1.ServiceAccountRootCAKey: pki.EncodeCerts(st.bundle),
		SignerCertKey:                  st.signer.CertPEM,
		SignerKeyKey:                   st.signer.KeyPEM,
		corev1.TLSCertKey:              st.serving.CertPEM,
		corev1.TLSPrivateKeyKey:        st.serving.KeyPEM,
	}
}

// planCA makes sure there is a signer that is not yet due for renewal and that
// the bundle holds it, keeping every CA that has not expired so certificates it
// signed stay trusted. It returns why it changed something, or "".
func (m *Manager) planCA(st *state, now time.Time) (string, error) {
	reason := ""
	switch {
	case st.signer == nil:
		reason = "no usable CA in the Secret"
	case !now.Before(renewAt(st.signer.Cert)):
		reason = fmt.Sprintf("CA passed two thirds of its lifetime (expires %s)", st.signer.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if reason != "" {
		notBefore := now.Truncate(time.Second)
		ca, err := pki.NewCA(pki.CAOptions{
			CommonName: fmt.Sprintf("%s-ca@%d", m.opts.ServiceName, notBefore.Unix()),
			NotBefore:  notBefore,
			Lifetime:   m.opts.CALifetime,
		})
		if err != nil {
			return "", err
		}
		st.signer = ca
	}
	var bundle []*x509.Certificate
	for _, c := range append(slices.Clone(st.bundle), st.signer.Cert) {
		if !now.Before(c.NotAfter) {
			continue // expired: nothing it signed can be trusted any more
		}
		if slices.ContainsFunc(bundle, func(b *x509.Certificate) bool { return b.Equal(c) }) {
			continue
		}
		bundle = append(bundle, c)
	}
	if reason == "" && !bytes.Equal(pki.EncodeCerts(bundle), pki.EncodeCerts(st.bundle)) {
		reason = "trust bundle out of date"
	}
	st.bundle = bundle
	return reason, nil
}

// planServing makes sure the serving certificate is trusted, valid for the
// Service and not due for renewal. switchOK says whether the current signer
// may be used when the serving certificate was signed by another CA: only once
// the caBundle carrying the signer has reached the API servers. It returns why
// it issued a new certificate, or "".
func (m *Manager) planServing(st *state, now time.Time, switchOK bool) (string, error) {
	names := m.opts.dnsNames()
	reason := ""
	switch cur := st.serving; {
	case cur == nil:
		reason = "no usable serving certificate in the Secret"
	case !verifies(cur.Cert, st.bundle, names[0], now):
		reason = "serving certificate is expired or not trusted by the bundle"
	case !containsAll(cur.Cert.DNSNames, names):
		reason = "serving certificate does not cover the Service's DNS names"
	case signedBy(cur.Cert, st.signer.Cert) && !now.Before(renewAt(cur.Cert)):
		reason = "serving certificate passed two thirds of its lifetime"
	case !signedBy(cur.Cert, st.signer.Cert) && switchOK:
		reason = "moving the serving certificate to the new CA"
	}
	if reason == "" {
		return "", nil
	}
	kp, err := st.signer.IssueServing(pki.ServingOptions{Hosts: names, NotBefore: now, Lifetime: m.opts.CertLifetime})
	if err != nil {
		return "", err
	}
	st.serving = kp
	return reason, nil
}

// nextCheck is when the state next needs attention, at the latest after the
// check interval.
func (m *Manager) nextCheck(st state, now time.Time) time.Time {
	next := now.Add(m.opts.CheckInterval)
	consider := func(t time.Time) {
		if t.Before(next) {
			next = t
		}
	}
	consider(renewAt(st.signer.Cert))
	consider(renewAt(st.serving.Cert))
	for _, c := range st.bundle {
		consider(c.NotAfter)
	}
	if !signedBy(st.serving.Cert, st.signer.Cert) {
		consider(m.switchAllowedAt(st.signer.Cert))
	}
	if min := now.Add(time.Second); next.Before(min) {
		next = min
	}
	return next
}

// switchAllowedAt is the earliest moment a certificate signed by ca may be
// served: PropagationDelay after the CA was made, and after this manager last
// changed the caBundle.
func (m *Manager) switchAllowedAt(ca *x509.Certificate) time.Time {
	t := ca.NotBefore.Add(m.opts.PropagationDelay)
	if p := m.lastBundlePatch.Add(m.opts.PropagationDelay); p.After(t) {
		t = p
	}
	return t
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}
