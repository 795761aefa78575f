// Package pki is the one place the project makes keys and certificates: a
// CA, a serving certificate signed by it, a client certificate (for a
// webhook started with --client-ca-file), a private key on its own (the e2e
// control plane's service-account key), and random serial numbers. It also
// parses and encodes them as PEM.
//
// Its users:
//   - the built-in certificate mode (pkg/builtincert), which keeps a CA and
//     a serving certificate in a Secret and rotates them;
//   - `serve --self-signed` and the demo, through Throwaway;
//   - the tests and the e2e framework, through Throwaway, NewKey and
//     IssueClient.
//
// Keys are ECDSA P-256 unless RSA is asked for. Serial numbers are random,
// positive and 128 bits long (RFC 5280 allows up to 20 octets). A serving
// certificate never outlives the CA that signed it.
package pki
