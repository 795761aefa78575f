package pki

import (
	"time"
)

// ThrowawayOptions say what Throwaway makes. The zero value gives an ECDSA
// certificate for localhost, 127.0.0.1 and ::1, valid for a day.
type ThrowawayOptions struct {
	// Hosts are the DNS names and IP addresses the serving certificate is for.
	Hosts []string
	// KeyType of the serving certificate (the CA's key is always ECDSA).
	KeyType KeyType
	// Lifetime of both certificates, from NotBefore.
	Lifetime time.Duration
	// NotBefore is when both certificates become valid; zero means a minute
	// ago. Tests set it to make expired and not-yet-valid certificates.
	NotBefore time.Time
}

// Bundle is a CA and a serving certificate it signed.
type Bundle struct {
	// CA is for clients' trust (curl --cacert, a webhook's caBundle).
	CA *KeyPair
	// Serving is what the server presents.
	Serving *KeyPair
}

// Throwaway makes a new CA and a serving certificate signed by it, for
// `serve --self-signed`, the demo and tests. Nothing it makes belongs in a
// cluster: the CA's key is discarded with the Bundle.
func Throwaway(o ThrowawayOptions) (*Bundle, error) {
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"localhost", "127.0.0.1", "::1"}
	}
	if o.Lifetime <= 0 {
		o.Lifetime = 24 * time.Hour
	}
	notBefore := o.NotBefore
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Minute)
	}
	ca, err := NewCA(CAOptions{CommonName: "secure-defaults throwaway CA", NotBefore: notBefore, Lifetime: o.Lifetime})
	if err != nil {
		return nil, err
	}
	serving, err := ca.IssueServing(ServingOptions{Hosts: o.Hosts, KeyType: o.KeyType, NotBefore: notBefore, Lifetime: o.Lifetime})
	if err != nil {
		return nil, err
	}
	return &Bundle{CA: ca, Serving: serving}, nil
}
