// Package manifest reads Kubernetes manifests (multi-document YAML, JSON
// streams, kind: List), finds the pod specs inside them, applies the secure
// defaults to those pods with the same code as the webhook, and writes the
// documents back.
//
// The rules run on a typed corev1.Pod built from each pod template; the change
// they make is turned into a JSON patch by pkg/patch and that patch is applied
// to the raw document, so the output holds the user's document plus exactly
// what the rules set: fields the typed model does not know survive, arrays
// keep their order, and no re-encoding noise (creationTimestamp: null,
// resources: {}) appears.
package manifest
