package pki

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestThrowawayVerifies(t *testing.T) {
	for _, kt := range []KeyType{"", ECDSA, RSA} {
		t.Run(string(kt), func(t *testing.T) {
			b, err := Throwaway(ThrowawayOptions{Hosts: []string{"webhook.example.svc", "127.0.0.1"}, KeyType: kt})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(b.Serving.CertPEM, b.Serving.KeyPEM)
			if err != nil {
				t.Fatalf("cert and key do not pair: %v", err)
			}
			switch pair.PrivateKey.(type) {
			case *ecdsa.PrivateKey:
				if kt == RSA {
					t.Errorf("got an ECDSA key, want RSA")
				}
			case *rsa.PrivateKey:
				if kt != RSA {
					t.Errorf("got an RSA key, want ECDSA")
				}
			}
			roots := x509.NewCertPool()
			if !roots.AppendCertsFromPEM(b.CA.CertPEM) {
				t.Fatal("CA certificate does not parse")
			}
			for _, host := range []string{"webhook.example.svc", "127.0.0.1"} {
				if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
					t.Errorf("serving certificate does not verify for %s: %v", host, err)
				}
			}
			if _, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: "other.example", Roots: roots}); err == nil {
				t.Errorf("serving certificate verifies for a host it was not made for")
			}
			if !pair.Leaf.Equal(b.Serving.Cert) {
				t.Error("Serving.Cert is not the certificate in Serving.CertPEM")
			}
		})
	}
}

func TestFreshSerials(t *testing.T) {
	a, err := Throwaway(ThrowawayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Throwaway(ThrowawayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serials := map[string]bool{}
	for _, c := range []*x509.Certificate{a.CA.Cert, a.Serving.Cert, b.CA.Cert, b.Serving.Cert} {
		s := c.SerialNumber.String()
		if serials[s] {
			t.Errorf("two certificates share serial %s", s)
		}
		serials[s] = true
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 129 {
			t.Errorf("serial %s is not a positive number of at most 129 bits", s)
		}
	}
}

func TestIssueServingNeverOutlivesItsCA(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)
	ca, err := NewCA(CAOptions{CommonName: "test CA", NotBefore: now, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.NotBefore.Equal(now.Truncate(time.Second)) || ca.Cert.NotAfter.Sub(ca.Cert.NotBefore) != time.Hour {
		t.Errorf("CA valid %s..%s, want an hour from %s", ca.Cert.NotBefore, ca.Cert.NotAfter, now)
	}
	if !ca.Cert.IsCA || !ca.Cert.MaxPathLenZero {
		t.Error("CA is not a CA limited to signing end-entity certificates")
	}
	kp, err := ca.IssueServing(ServingOptions{Hosts: []string{"svc.ns.svc"}, NotBefore: now.Add(30 * time.Minute), Lifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !kp.Cert.NotAfter.Equal(ca.Cert.NotAfter) {
		t.Errorf("serving certificate expires %s, after its CA (%s)", kp.Cert.NotAfter, ca.Cert.NotAfter)
	}
	if _, err := kp.IssueServing(ServingOptions{Hosts: []string{"x"}, Lifetime: time.Hour}); err == nil {
		t.Error("a serving certificate signed another certificate")
	}
}

func TestParseKeyPair(t *testing.T) {
	a, err := Throwaway(ThrowawayOptions{KeyType: RSA})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Throwaway(ThrowawayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kp, err := ParseKeyPair(append(a.Serving.CertPEM, a.CA.CertPEM...), a.Serving.KeyPEM)
	if err != nil {
		t.Fatalf("a chain and its key: %v", err)
	}
	if !kp.Cert.Equal(a.Serving.Cert) {
		t.Error("ParseKeyPair did not take the first certificate of the chain")
	}
	for name, tc := range map[string]struct {
		cert, key []byte
		want      string
	}{
		"key of another certificate": {a.Serving.CertPEM, b.Serving.KeyPEM, "does not match"},
		"no certificate":             {nil, a.Serving.KeyPEM, "no certificate"},
		"no key":                     {a.Serving.CertPEM, nil, "no PEM private key"},
		"certificate as key":         {a.Serving.CertPEM, a.Serving.CertPEM, "unsupported PEM block"},
	} {
		if _, err := ParseKeyPair(tc.cert, tc.key); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: ParseKeyPair() = %v, want an error containing %q", name, err, tc.want)
		}
	}
}

func TestEncodeCertsRoundTrips(t *testing.T) {
	a, err := Throwaway(ThrowawayOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := []*x509.Certificate{a.CA.Cert, a.Serving.Cert}
	out, err := ParseCerts(append(EncodeCerts(in), a.Serving.KeyPEM...))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || !out[0].Equal(in[0]) || !out[1].Equal(in[1]) {
		t.Errorf("round trip gave %d certificates, want the 2 given, in order", len(out))
	}
}

func TestUnknownKeyType(t *testing.T) {
	if _, err := NewKey("dsa"); err == nil {
		t.Error("NewKey accepted key type dsa")
	}
	if _, err := Throwaway(ThrowawayOptions{KeyType: "dsa"}); err == nil {
		t.Error("Throwaway accepted key type dsa")
	}
}

// TestIssueClientVerifiesForClientAuthOnly: a client certificate verifies
// against its CA as a client, and never as a server.
func TestIssueClientVerifiesForClientAuthOnly(t *testing.T) {
	ca, err := NewCA(CAOptions{CommonName: "client CA", Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.IssueClient("kube-apiserver", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	if _, err := c.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("as a client: %v", err)
	}
	if _, err := c.Cert.Verify(x509.VerifyOptions{Roots: roots}); err == nil {
		t.Error("a client certificate verified as a server's")
	}
	if c.Cert.Subject.CommonName != "kube-apiserver" || len(c.Cert.DNSNames)+len(c.Cert.IPAddresses) != 0 {
		t.Errorf("subject %q, SANs %v %v; want the common name only", c.Cert.Subject.CommonName, c.Cert.DNSNames, c.Cert.IPAddresses)
	}
}
