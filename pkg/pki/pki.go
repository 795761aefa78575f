package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// KeyType selects a key algorithm.
type KeyType string

const (
	// ECDSA is a P-256 key, the default.
	ECDSA KeyType = "ecdsa"
	// RSA is a 2048-bit RSA key.
	RSA KeyType = "rsa"
)

// KeyPair is a certificate with its private key, parsed and PEM-encoded.
type KeyPair struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// KeyPEM is the key in PKCS #8 ("PRIVATE KEY") for pairs made here, or
	// as read for pairs from ParseKeyPair.
	KeyPEM []byte
}

// NewKey makes a private key of type kt ("" is ECDSA).
func NewKey(kt KeyType) (crypto.Signer, error) {
	switch kt {
	case "", ECDSA:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("unknown key type %q (want %q or %q)", kt, ECDSA, RSA)
	}
}

// EncodeKey renders a private key as a PKCS #8 PEM block, the form Go, the
// kube-apiserver and OpenSSL all read.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// NewSerial returns a random, positive 128-bit serial number.
func NewSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// CAOptions say what CA to make.
type CAOptions struct {
	// CommonName of the CA's subject.
	CommonName string
	// NotBefore is the start of validity; zero means a minute ago (slack for
	// clocks that run behind).
	NotBefore time.Time
	// Lifetime is the validity from NotBefore.
	Lifetime time.Duration
}

// NewCA makes a self-signed CA with an ECDSA key. It may sign end-entity
// certificates only (path length zero).
func NewCA(o CAOptions) (*KeyPair, error) {
	if o.Lifetime <= 0 {
		return nil, fmt.Errorf("CA lifetime must be positive, got %s", o.Lifetime)
	}
	key, err := NewKey(ECDSA)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	notBefore := startOf(o.NotBefore)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: o.CommonName},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(o.Lifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	return assemble(der, key)
}

// ServingOptions say what serving certificate to issue.
type ServingOptions struct {
	// Hosts are the DNS names and IP addresses the certificate is for; the
	// first is also its common name. At least one is required.
	Hosts []string
	// KeyType of the certificate's key ("" is ECDSA).
	KeyType KeyType
	// NotBefore is the start of validity; zero means a minute ago.
	NotBefore time.Time
	// Lifetime is the validity from NotBefore, cut short where the CA
	// expires first.
	Lifetime time.Duration
}

// IssueClient makes a TLS client certificate (extended key usage
// clientAuth) for commonName, signed by ca: what an API server presents to a
// webhook started with --client-ca-file.
func (ca *KeyPair) IssueClient(commonName string, lifetime time.Duration) (*KeyPair, error) {
	return ca.issue(ServingOptions{Hosts: []string{commonName}, Lifetime: lifetime}, x509.ExtKeyUsageClientAuth)
}

// IssueServing makes a TLS server certificate signed by ca, which must be a
// pair from NewCA or ParseKeyPair.
func (ca *KeyPair) IssueServing(o ServingOptions) (*KeyPair, error) {
	return ca.issue(o, x509.ExtKeyUsageServerAuth)
}

func (ca *KeyPair) issue(o ServingOptions, usage x509.ExtKeyUsage) (*KeyPair, error) {
	if len(o.Hosts) == 0 {
		return nil, errors.New("no host names for the serving certificate")
	}
	if o.Lifetime <= 0 {
		return nil, fmt.Errorf("serving certificate lifetime must be positive, got %s", o.Lifetime)
	}
	if !ca.Cert.IsCA {
		return nil, fmt.Errorf("certificate %q is not a CA", ca.Cert.Subject.CommonName)
	}
	key, err := NewKey(o.KeyType)
	if err != nil {
		return nil, fmt.Errorf("generating serving key: %w", err)
	}
	serial, err := NewSerial()
	if err != nil {
		return nil, err
	}
	notBefore := startOf(o.NotBefore)
	notAfter := notBefore.Add(o.Lifetime)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: o.Hosts[0]},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if _, isRSA := key.(*rsa.PrivateKey); isRSA {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	for _, h := range o.Hosts {
		if usage != x509.ExtKeyUsageServerAuth {
			break // a client certificate names its holder in the common name only
		}
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing serving certificate: %w", err)
	}
	return assemble(der, key)
}

// startOf is the NotBefore of a new certificate, in whole seconds (what
// X.509 encodes).
func startOf(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now().Add(-time.Minute)
	}
	return t.Truncate(time.Second)
}

func assemble(der []byte, key crypto.Signer) (*KeyPair, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate just created: %w", err)
	}
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return nil, err
	}
	return &KeyPair{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  keyPEM,
	}, nil
}

// ParseKeyPair parses a PEM certificate (the first one, if several) and a
// PEM private key (PKCS #8, SEC 1 or PKCS #1) and checks that they belong
// together.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	certs, err := ParseCerts(certPEM)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, errors.New("no certificate")
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM private key")
	}
	var key crypto.Signer
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("private key of type %T cannot sign", k)
		}
		key = s
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
		key = k
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing private key: %w", err)
		}
		key = k
	default:
		return nil, fmt.Errorf("unsupported PEM block %q for a private key", block.Type)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	pub, ok := key.Public().(equaler)
	if !ok || !pub.Equal(certs[0].PublicKey) {
		return nil, errors.New("private key does not match the certificate")
	}
	return &KeyPair{Cert: certs[0], Key: key, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// ParseCerts parses every CERTIFICATE block of a PEM bundle, skipping blocks
// of other types.
func ParseCerts(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing certificate: %w", err)
		}
		certs = append(certs, c)
	}
	return certs, nil
}

// EncodeCerts renders certificates as one PEM bundle, in the given order.
func EncodeCerts(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}) // writes to memory cannot fail
	}
	return buf.Bytes()
}
