// Package builtincert is the built-in certificate mode of the webhook
// (`serve --cert-mode=builtin`), for clusters without cert-manager.
//
// A Manager keeps one Secret (type kubernetes.io/tls) that holds a self-signed
// CA and a serving certificate for the webhook's Service, publishes the CA in
// the caBundle of every entry of the MutatingWebhookConfiguration that points
// at that Service, and hands the serving certificate and key straight to the
// HTTPS server in the same process (a Holder: *server.Server), so a renewed
// certificate is served from the next handshake on. Every replica runs a Manager; they share the Secret and
// settle races through the API server (create, AlreadyExists, read; updates
// carry a resourceVersion and are retried on conflict).
//
// Rotation never breaks a review:
//   - the serving certificate is renewed from the same CA once it has passed
//     two thirds of its lifetime;
//   - once the CA has passed two thirds of its lifetime a new CA is created and
//     added to the trust bundle next to the old one; only after the caBundle
//     carrying both has been observed on the webhook configuration (and at
//     least PropagationDelay after the new CA was created) is the serving
//     certificate switched to the new CA; the old CA leaves the bundle when it
//     expires.
//   - a Secret that is deleted or loses its CA is recreated with a new CA, and
//     the CAs already published in the caBundle stay in it until they expire,
//     so the other replicas' certificates stay trusted while they catch up.
//
// The Secret's keys are tls.crt and tls.key (the serving pair), ca.crt (the
// trust bundle, the exact bytes published as caBundle), and ca-signer.crt and
// ca-signer.key (the CA that issues serving certificates).
//
// Keys and certificates are made by pkg/pki.
package builtincert
