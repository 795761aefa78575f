package selfsigned

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"testing"
)

func TestGenerateVerifies(t *testing.T) {
	for _, kt := range []KeyType{"", ECDSA, RSA} {
		t.Run(string(kt), func(t *testing.T) {
			b, err := Generate(Options{Hosts: []string{"webhook.example.svc", "127.0.0.1"}, KeyType: kt})
			if err != nil {
				t.Fatal(err)
			}
			pair, err := tls.X509KeyPair(b.Cert, b.Key)
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
			if !roots.AppendCertsFromPEM(b.CACert) {
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
			if pair.Leaf.SerialNumber.Cmp(b.Serial) != 0 {
				t.Errorf("Serial %v does not match the certificate's %v", b.Serial, pair.Leaf.SerialNumber)
			}
		})
	}
}

func TestGenerateFreshSerials(t *testing.T) {
	a, err := Generate(Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Serial.Cmp(b.Serial) == 0 {
		t.Errorf("two certificates share serial %v", a.Serial)
	}
}

func TestGenerateUnknownKeyType(t *testing.T) {
	if _, err := Generate(Options{KeyType: "dsa"}); err == nil {
		t.Error("Generate accepted key type dsa")
	}
}
