// Package manifest reads Kubernetes manifests (multi-document YAML, JSON
// streams, kind: List) as kubectl reads them, finds the pod specs inside
// them, applies the secure defaults to those pods with the same code as the
// webhook, and writes the documents back.
//
// The rules run on a typed corev1.Pod built from each pod template; the change
// they make is turned into a JSON patch by pkg/patch and that patch is applied
// to the raw document, so the result holds the user's document plus exactly
// what the rules set: fields the typed model does not know survive, arrays
// keep their order, and no re-encoding noise (creationTimestamp: null,
// resources: {}) appears.
//
// Two writers render the result. File.Preserve writes the patch into each
// document's own text: the operations only ever add, so each becomes text
// inserted at the end of a mapping or list of the YAML node tree, in the
// document's own indentation, or before the closing bracket of a flow
// collection or JSON object; comments, order, quoting and untouched
// documents stay byte for byte. Every edited document is read back and
// compared with the patched JSON; a document whose patch would edit through a
// YAML anchor, alias or merge key (changing the other places that share the
// value), or whose edit does not read back exactly, is written normalised
// instead, with a note. WriteYAML writes every document normalised: YAML
// with sorted keys and no comments.
package manifest
