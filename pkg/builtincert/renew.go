package builtincert

import (
	"crypto/x509"
	"time"
)

// renewAt is the moment a certificate should be replaced: two thirds into its
// validity, leaving a third of the lifetime as a safety margin.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(life / 3 * 2)
}

// verifies reports whether leaf chains to one of roots at time now and is
// valid for dnsName.
func verifies(leaf *x509.Certificate, roots []*x509.Certificate, dnsName string, now time.Time) bool {
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		DNSName:     dnsName,
		Roots:       pool,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err == nil
}

// signedBy reports whether c carries a valid signature of ca.
func signedBy(c, ca *x509.Certificate) bool {
	return c.CheckSignatureFrom(ca) == nil
}
