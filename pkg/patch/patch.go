package patch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/mattbaird/jsonpatch"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
)

// Create returns the JSON patch (a JSON array of operations) that turns
// original into mutated, or nil when they are equal. It is Take(original)
// followed by Patch(mutated).
func Create(original, mutated *corev1.Pod) ([]byte, error) {
	return Take(original).Patch(mutated)
}

// Snapshot holds a copy of the parts of a Pod the rules may change, taken
// before they run, so the caller needs no deep copy of the whole pod (which
// can carry thousands of env vars and managedFields the rules never read).
//
// The parts are listed by Subtrees: metadata.annotations,
// spec.securityContext, spec.volumes, spec.automountServiceAccountToken, and the securityContext and
// volumeMounts of every init, regular and ephemeral container. Every rule
// declares the fields it writes (defaults.Rule.Writes), and a test checks
// that each lies in one of these parts; a rule that changed anything else
// would give a patch that does not reproduce the mutated pod.
type Snapshot struct {
	parts []part
	err   error // from Take: a part that could not be copied
}

// part is one subtree: where it is and its value before the rules ran.
type part struct {
	loc    location
	before any
}

// location names a part: a pod-level field (list empty), or a field of the
// index-th container of a container list. Its JSON pointer is built only for
// the parts that changed.
type location struct {
	list  string // "", "initContainers", "containers" or "ephemeralContainers"
	index int
	field string // "securityContext" or "volumeMounts" in a container; the pointer of a pod-level part
}

// path returns the JSON pointer of l.
func (l location) path() string {
	if l.list == "" {
		return l.field
	}
	return "/spec/" + l.list + "/" + strconv.Itoa(l.index) + "/" + l.field
}

// pattern returns the JSON pointer of l with "*" for the container index.
func (l location) pattern() string {
	if l.list == "" {
		return l.field
	}
	return "/spec/" + l.list + "/*/" + l.field
}

// Subtrees returns the parts a Snapshot holds, as JSON pointers with "*"
// for any index of a container list, e.g. "/spec/containers/*/securityContext".
// A rule may write only at or below one of them.
func Subtrees() []string {
	one := make([]corev1.Container, 1)
	pod := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: one, Containers: one, EphemeralContainers: make([]corev1.EphemeralContainer, 1)}}
	var out []string
	(&Snapshot{}).each(pod, func(loc location, _ any) { out = append(out, loc.pattern()) })
	return out
}

// Take snapshots pod. A part it cannot copy makes Patch fail.
func Take(pod *corev1.Pod) *Snapshot {
	s := &Snapshot{parts: make([]part, 0, 4+2*(len(pod.Spec.InitContainers)+len(pod.Spec.Containers)+len(pod.Spec.EphemeralContainers)))}
	s.each(pod, func(loc location, v any) {
		c, err := deepCopy(v)
		if err != nil && s.err == nil {
			s.err = fmt.Errorf("computing JSON patch: snapshot of %s: %w", loc.path(), err)
		}
		s.parts = append(s.parts, part{loc, c})
	})
	return s
}

// each calls fn with the location and value of every part of pod, in a
// fixed order.
func (s *Snapshot) each(pod *corev1.Pod, fn func(loc location, v any)) {
	fn(location{field: "/metadata/annotations"}, pod.Annotations)
	fn(location{field: "/spec/securityContext"}, pod.Spec.SecurityContext)
	fn(location{field: "/spec/volumes"}, pod.Spec.Volumes)
	fn(location{field: "/spec/automountServiceAccountToken"}, pod.Spec.AutomountServiceAccountToken)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		fn(location{"initContainers", i, "securityContext"}, c.SecurityContext)
		fn(location{"initContainers", i, "volumeMounts"}, c.VolumeMounts)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		fn(location{"containers", i, "securityContext"}, c.SecurityContext)
		fn(location{"containers", i, "volumeMounts"}, c.VolumeMounts)
	}
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		fn(location{"ephemeralContainers", i, "securityContext"}, c.SecurityContext)
		fn(location{"ephemeralContainers", i, "volumeMounts"}, c.VolumeMounts)
	}
}

// Patch returns the JSON patch that turns the snapshotted pod into mutated,
// or nil when nothing changed. mutated must be the same pod after the rules:
// containers are never added, removed or reordered.
//
// Each changed part is diffed on its own with github.com/mattbaird/jsonpatch,
// typed value against typed value, so fields the typed model drops or
// normalises produce no operation and the patch applies cleanly to the raw
// object the API server sent. The rules only ever append to arrays, the one
// shape of array change that library diffs correctly. A panic in the library
// is returned as an error.
func (s *Snapshot) Patch(mutated *corev1.Pod) ([]byte, error) {
	if s.err != nil {
		return nil, s.err
	}
	var ops []jsonpatch.JsonPatchOperation
	var err error
	i := 0
	s.each(mutated, func(loc location, after any) {
		if err != nil {
			return
		}
		if i >= len(s.parts) || s.parts[i].loc != loc {
			err = fmt.Errorf("computing JSON patch: the pod's containers changed between snapshot and patch at %s", loc.path())
			return
		}
		before := s.parts[i].before
		i++
		if reflect.DeepEqual(before, after) {
			return
		}
		ops, err = diffPart(ops, loc.path(), before, after)
	})
	if err == nil && i != len(s.parts) {
		err = fmt.Errorf("computing JSON patch: the pod's containers changed between snapshot and patch")
	}
	if err != nil || len(ops) == 0 {
		return nil, err
	}
	out, err := encode(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding JSON patch: %w", err)
	}
	return out, nil
}

// encode writes ops as a JSON array, as the library's own MarshalJSON does
// (the value is left out only of a remove or move without one) but in one
// buffer, with the path properly quoted.
func encode(ops []jsonpatch.JsonPatchOperation) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	buf.WriteByte('[')
	for i := range ops {
		op := &ops[i]
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteString(`{"op":`)
		if err := enc.Encode(op.Operation); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
		buf.WriteString(`,"path":`)
		if err := enc.Encode(op.Path); err != nil {
			return nil, err
		}
		buf.Truncate(buf.Len() - 1)
		if op.Value != nil || op.Operation == "replace" || op.Operation == "add" || op.Operation == "test" {
			buf.WriteString(`,"value":`)
			if err := enc.Encode(op.Value); err != nil {
				return nil, err
			}
			buf.Truncate(buf.Len() - 1)
		}
		buf.WriteByte('}')
	}
	buf.WriteByte(']')
	return buf.Bytes(), nil
}

// diffPart appends to ops the operations that turn before into after, both
// at path.
func diffPart(ops []jsonpatch.JsonPatchOperation, path string, before, after any) (_ []jsonpatch.JsonPatchOperation, err error) {
	if out, ok := appendShortcut(ops, path, before, after); ok {
		return out, nil
	}
	a, err := json.Marshal(before)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", path, err)
	}
	b, err := json.Marshal(after)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", path, err)
	}
	partOps, err := createFromJSON(a, b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sortOps(partOps)
	for _, op := range partOps {
		op.Path = path + op.Path
		ops = append(ops, op)
	}
	return ops, nil
}

// appendShortcut appends the operations for the changes the rules make most
// often, without encoding both sides and diffing them: a part that was unset
// and is now set, elements appended to a list, and keys added to the
// annotations. The operations are the ones the library emits for the same
// change (one add of the whole value; one add per appended index; one add per
// new key), so the patch is the same, only cheaper to compute. It reports
// false for any other change, which the library then diffs.
func appendShortcut(ops []jsonpatch.JsonPatchOperation, path string, before, after any) ([]jsonpatch.JsonPatchOperation, bool) {
	add := func(path string, v any) {
		ops = append(ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: path, Value: v})
	}
	switch b := before.(type) {
	case *bool:
		if a := after.(*bool); b == nil && a != nil {
			add(path, *a)
			return ops, true
		}
	case *corev1.PodSecurityContext:
		if a := after.(*corev1.PodSecurityContext); b == nil && a != nil {
			add(path, a)
			return ops, true
		}
	case *corev1.SecurityContext:
		if a := after.(*corev1.SecurityContext); b == nil && a != nil {
			add(path, a)
			return ops, true
		}
	case []corev1.Volume:
		return appendElements(ops, path, b, after.([]corev1.Volume))
	case []corev1.VolumeMount:
		return appendElements(ops, path, b, after.([]corev1.VolumeMount))
	case map[string]string:
		a := after.(map[string]string)
		if len(b) == 0 {
			// An empty map is omitted from the raw object or empty there:
			// the library adds the whole map either way.
			if len(a) == 0 {
				return ops, false
			}
			add(path, a)
			return ops, true
		}
		keys := make([]string, 0, len(a)-len(b))
		for k, v := range b {
			if av, ok := a[k]; !ok || av != v {
				return ops, false // changed or removed: leave it to the library
			}
		}
		for k := range a {
			if _, ok := b[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			add(path+"/"+jsonpointer.Escape(k), a[k])
		}
		return ops, true
	}
	return ops, false
}

// appendElements handles a list whose old elements are unchanged and in
// place, with new ones after them: one add per new index, or one add of the
// whole list when it was empty (and so absent from the raw object).
func appendElements[T any](ops []jsonpatch.JsonPatchOperation, path string, before, after []T) ([]jsonpatch.JsonPatchOperation, bool) {
	if len(after) <= len(before) || (len(before) == 0 && len(after) == 0) {
		return ops, false
	}
	if len(before) == 0 {
		return append(ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: path, Value: after}), true
	}
	for i := range before {
		if !reflect.DeepEqual(before[i], after[i]) {
			return ops, false
		}
	}
	for i := len(before); i < len(after); i++ {
		ops = append(ops, jsonpatch.JsonPatchOperation{Operation: "add", Path: path + "/" + strconv.Itoa(i), Value: after[i]})
	}
	return ops, true
}

// sortOps puts the library's operations in a fixed order, so the same change
// always gives the same bytes: the library walks Go maps, whose order is
// random. It sorts only when every operation is an add or a replace, ordered
// by path with numeric segments compared as numbers, so adds to one array keep
// ascending indices and still apply in sequence; removes (which the library
// emits in descending index order, and the rules never cause) are left as
// they are.
func sortOps(ops []jsonpatch.JsonPatchOperation) {
	for _, op := range ops {
		if op.Operation != "add" && op.Operation != "replace" {
			return
		}
	}
	slices.SortStableFunc(ops, func(a, b jsonpatch.JsonPatchOperation) int {
		return comparePointers(a.Path, b.Path)
	})
}

// comparePointers orders JSON pointers segment by segment, numbers by value.
func comparePointers(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		if as[i] == bs[i] {
			continue
		}
		an, aerr := strconv.Atoi(as[i])
		bn, berr := strconv.Atoi(bs[i])
		if aerr == nil && berr == nil {
			return an - bn
		}
		return strings.Compare(as[i], bs[i])
	}
	return len(as) - len(bs)
}

// createFromJSON runs the library, turning its panics into errors.
func createFromJSON(a, b []byte) (ops []jsonpatch.JsonPatchOperation, err error) {
	defer func() {
		if r := recover(); r != nil {
			ops, err = nil, fmt.Errorf("computing JSON patch: %v", r)
		}
	}()
	ops, err = jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("computing JSON patch: %w", err)
	}
	return ops, nil
}

// deepCopy copies one part so later changes to the pod do not reach it. A
// part of a type it does not know (one added to each without a case here) is
// an error, never a shared reference.
func deepCopy(v any) (any, error) {
	switch t := v.(type) {
	case map[string]string:
		if t == nil {
			return t, nil
		}
		out := make(map[string]string, len(t))
		for k, v := range t {
			out[k] = v
		}
		return out, nil
	case *bool:
		if t == nil {
			return t, nil
		}
		b := *t
		return &b, nil
	case *corev1.PodSecurityContext:
		return t.DeepCopy(), nil
	case *corev1.SecurityContext:
		return t.DeepCopy(), nil
	case []corev1.Volume:
		if t == nil {
			return t, nil
		}
		out := make([]corev1.Volume, len(t))
		for i := range t {
			t[i].DeepCopyInto(&out[i])
		}
		return out, nil
	case []corev1.VolumeMount:
		if t == nil {
			return t, nil
		}
		out := make([]corev1.VolumeMount, len(t))
		for i := range t {
			t[i].DeepCopyInto(&out[i])
		}
		return out, nil
	}
	return nil, fmt.Errorf("no deep copy for %T", v)
}
