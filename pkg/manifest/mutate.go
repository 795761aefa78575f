package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/patch"
)

// Pod is one pod found in a document, with what the rules did to it.
type Pod struct {
	// Path is the JSON pointer of the pod inside the document: "" for a Pod
	// document, "/spec/template" for a Deployment, and so on.
	Path string
	// Object names the object that holds the pod, e.g. "Deployment prod/web".
	Object string
	// Result says which rules changed the pod, and why some were left out.
	defaults.Result
}

// Result is the outcome of mutating one document.
type Result struct {
	Document Document
	// JSON is the mutated document; the input bytes when nothing changed.
	JSON []byte
	// Patch is the JSON patch (RFC 6902, a JSON array) that turns the input
	// document into JSON, with paths relative to the document; "[]" when
	// nothing changed.
	Patch []byte
	// Pods lists every pod found in the document, in document order.
	Pods []Pod
}

// Warnings returns the rules' warnings, each prefixed with the source,
// document and object it concerns.
func (r Result) Warnings() []string {
	var out []string
	for _, p := range r.Pods {
		for _, w := range p.Warnings {
			out = append(out, fmt.Sprintf("%s: document %d: %s: %s", r.Document.Source, r.Document.Index, p.Object, w))
		}
	}
	return out
}

// target is a pod found in a document, not yet mutated.
type target struct {
	path    []string // of the pod inside the document
	object  string   // for messages
	podJSON []byte   // {"metadata": ..., "spec": ...} of the template, or the Pod
}

// Mutate applies the secure defaults that opts enables (defaults.Options{}
// for the shipped ones) to every pod of doc: a Pod, the pod
// template of a workload, or those of the items of a List. Other documents
// come back unchanged. An error (an *Error) means the document is malformed:
// a workload without a pod template, a pod that does not decode into the
// Kubernetes types, a List whose items are not objects.
func Mutate(doc Document, opts defaults.Options) (Result, error) {
	return MutateWithFacts(doc, opts, nil)
}

// FactsFunc returns what is known of a pod beyond its manifest (image
// lookup), with warnings for the user; the rules get the facts in
// defaults.Options.Facts.
type FactsFunc func(*corev1.Pod) (defaults.Facts, []string)

// MutateWithFacts is Mutate with facts asked of facts, when not nil, for
// each pod before the rules run.
func MutateWithFacts(doc Document, opts defaults.Options, facts FactsFunc) (Result, error) {
	fail := func(err error) (Result, error) {
		return Result{}, &Error{Source: doc.Source, Document: doc.Index, Line: doc.Line, Err: err}
	}
	obj, err := decodeObject(doc.JSON)
	if err != nil {
		return fail(err)
	}
	targets, err := findPods(obj, nil, "")
	if err != nil {
		return fail(err)
	}
	res := Result{Document: doc, JSON: doc.JSON, Patch: []byte("[]")}
	var (
		ops     []map[string]any
		mutated = map[int]*corev1.Pod{}
	)
	for i, t := range targets {
		pod, err := decodePod(t.podJSON)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", t.object, err))
		}
		out := pod.DeepCopy()
		podOpts := opts
		var factWarnings []string
		if facts != nil {
			podOpts.Facts, factWarnings = facts(out)
		}
		r := defaults.Apply(out, podOpts)
		if !r.OptedOut {
			r.Warnings = append(r.Warnings, factWarnings...)
		}
		res.Pods = append(res.Pods, Pod{Path: pointer(t.path), Object: t.object, Result: r})
		p, err := patch.Create(pod, out)
		if err != nil {
			return fail(fmt.Errorf("%s: %w", t.object, err))
		}
		if p == nil {
			continue
		}
		podOps, err := reroot(p, pointer(t.path))
		if err != nil {
			return fail(fmt.Errorf("%s: %w", t.object, err))
		}
		ops = append(ops, podOps...)
		mutated[i] = out
	}
	if len(ops) == 0 {
		return res, nil
	}
	ops = ensureParents(obj, ops)
	patchJSON, err := json.Marshal(ops)
	if err != nil {
		return fail(fmt.Errorf("encoding JSON patch: %w", err))
	}
	p, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		return fail(fmt.Errorf("decoding JSON patch: %w", err))
	}
	out, err := p.Apply(doc.JSON)
	if err != nil {
		return fail(fmt.Errorf("applying JSON patch: %w", err))
	}
	if err := verify(out, targets, mutated); err != nil {
		return fail(err)
	}
	res.JSON, res.Patch = out, patchJSON
	return res, nil
}

// findPods returns the pods of obj, found at path inside the document.
// kindHint is the kind of obj when it carries none (items of a typed list).
func findPods(obj map[string]any, path []string, kindHint string) ([]target, error) {
	if itemKind, ok := isList(obj); ok {
		return findListPods(obj, path, itemKind)
	}
	kind, _ := obj["kind"].(string)
	if kind == "" {
		kind = kindHint
	}
	apiVersion, _ := obj["apiVersion"].(string)
	w, ok := lookupWorkload(apiVersion, kind)
	if !ok {
		return nil, nil
	}
	name := describe(obj, kind)
	if w.template == nil {
		b, err := json.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return []target{{path: path, object: name, podJSON: b}}, nil
	}
	v, ok := lookup(obj, w.template)
	field := strings.Join(w.template, ".")
	if !ok || v == nil {
		return nil, fmt.Errorf("%s: %s is missing", name, field)
	}
	tmpl, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: %s is %s, not an object", name, field, typeName(v))
	}
	pod := map[string]any{}
	for _, k := range []string{"metadata", "spec"} {
		if x, ok := tmpl[k]; ok {
			pod[k] = x
		}
	}
	b, err := json.Marshal(pod)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return []target{{path: append(append([]string(nil), path...), w.template...), object: name, podJSON: b}}, nil
}

func findListPods(obj map[string]any, path []string, itemKind string) ([]target, error) {
	list := describe(obj, obj["kind"].(string))
	if obj["items"] == nil {
		return nil, nil
	}
	items, ok := obj["items"].([]any)
	if !ok {
		return nil, fmt.Errorf("%s: items is %s, not an array", list, typeName(obj["items"]))
	}
	var out []target
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: item %d is %s, not an object", list, i+1, typeName(it))
		}
		ts, err := findPods(m, itemPath(path, i), itemKind)
		if err != nil {
			return nil, fmt.Errorf("%s: item %d: %w", list, i+1, err)
		}
		out = append(out, ts...)
	}
	return out, nil
}

// decodePod decodes a pod the way the API server does: field names are case
// sensitive, integers stay integers, unknown fields are ignored (and survive
// in the document, since only the patch touches it).
func decodePod(b []byte) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(b, pod); err != nil {
		return nil, fmt.Errorf("not a valid pod spec: %w", err)
	}
	return pod, nil
}

func decodeObject(b []byte) (map[string]any, error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if obj == nil {
		return nil, errors.New("document is not an object")
	}
	return obj, nil
}

// reroot decodes a JSON patch whose paths are relative to a pod and prefixes
// them with the pod's pointer inside the document.
func reroot(p []byte, prefix string) ([]map[string]any, error) {
	var ops []map[string]any
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	if err := dec.Decode(&ops); err != nil {
		return nil, fmt.Errorf("decoding JSON patch: %w", err)
	}
	for _, op := range ops {
		for _, k := range []string{"path", "from"} {
			if s, ok := op[k].(string); ok {
				op[k] = prefix + s
			}
		}
	}
	return ops, nil
}

// ensureParents makes every "add" of ops apply to the raw document. The patch
// was computed on typed pods, which always have metadata and spec objects;
// the raw document may lack them (a template without metadata) or hold null
// there ("metadata:" with nothing after it). For each such missing or null
// object on the way to an added field, an "add" of an empty object goes first.
func ensureParents(doc map[string]any, ops []map[string]any) []map[string]any {
	var out []map[string]any
	for _, op := range ops {
		path, _ := op["path"].(string)
		if op["op"] != "add" || path == "" {
			out = append(out, op)
			continue
		}
		tokens := splitPointer(path)
		var cur any = doc
		for i, tok := range tokens[:len(tokens)-1] {
			switch c := cur.(type) {
			case map[string]any:
				next, ok := c[tok]
				if !ok || next == nil {
					next = map[string]any{}
					c[tok] = next
					out = append(out, map[string]any{"op": "add", "path": pointer(tokens[:i+1]), "value": map[string]any{}})
				}
				cur = next
			case []any:
				n, err := strconv.Atoi(tok)
				if err != nil || n < 0 || n >= len(c) {
					cur = nil
					break
				}
				cur = c[n]
			default:
				cur = nil
			}
		}
		// Record the added value, so later operations see what this one creates.
		if m, ok := cur.(map[string]any); ok {
			m[tokens[len(tokens)-1]] = op["value"]
		}
		out = append(out, op)
	}
	return out
}

func splitPointer(p string) []string {
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := range parts {
		parts[i] = jsonpointer.Unescape(parts[i])
	}
	return parts
}

// verify checks that the patched document holds, at each pod's place, exactly
// the pod the rules produced: the guarantee that the document gained what the
// rules set and nothing else.
func verify(out []byte, targets []target, mutated map[int]*corev1.Pod) error {
	obj, err := decodeObject(out)
	if err != nil {
		return fmt.Errorf("patched document: %w", err)
	}
	got, err := findPods(obj, nil, "")
	if err != nil {
		return fmt.Errorf("patched document: %w", err)
	}
	if len(got) != len(targets) {
		return fmt.Errorf("internal error: the patched document holds %d pods, want %d", len(got), len(targets))
	}
	for i, want := range mutated {
		pod, err := decodePod(got[i].podJSON)
		if err != nil {
			return fmt.Errorf("internal error: patched %s: %w", targets[i].object, err)
		}
		a, errA := json.Marshal(pod)
		b, errB := json.Marshal(want)
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			return fmt.Errorf("internal error: the patch applied to %s does not give the pod the rules produced", targets[i].object)
		}
	}
	return nil
}
