package patch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"

	"github.com/mattbaird/jsonpatch"
	corev1 "k8s.io/api/core/v1"
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
// The parts are: metadata.annotations, spec.securityContext, spec.volumes,
// and the securityContext and volumeMounts of every init, regular and
// ephemeral container. The rules' tests apply every patch and require it to
// reproduce the mutated pod exactly, so a rule that changed anything else
// would fail them.
type Snapshot struct {
	parts []part
}

// part is one subtree: its JSON pointer and its value before the rules ran.
type part struct {
	path   string
	before any
}

// Take snapshots pod.
func Take(pod *corev1.Pod) *Snapshot {
	s := &Snapshot{parts: make([]part, 0, 3+2*(len(pod.Spec.InitContainers)+len(pod.Spec.Containers)+len(pod.Spec.EphemeralContainers)))}
	s.each(pod, func(path string, v any) {
		s.parts = append(s.parts, part{path, deepCopy(v)})
	})
	return s
}

// each calls fn with the JSON pointer and value of every part of pod, in a
// fixed order.
func (s *Snapshot) each(pod *corev1.Pod, fn func(path string, v any)) {
	fn("/metadata/annotations", pod.Annotations)
	fn("/spec/securityContext", pod.Spec.SecurityContext)
	fn("/spec/volumes", pod.Spec.Volumes)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		prefix := "/spec/initContainers/" + strconv.Itoa(i)
		fn(prefix+"/securityContext", c.SecurityContext)
		fn(prefix+"/volumeMounts", c.VolumeMounts)
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		prefix := "/spec/containers/" + strconv.Itoa(i)
		fn(prefix+"/securityContext", c.SecurityContext)
		fn(prefix+"/volumeMounts", c.VolumeMounts)
	}
	for i := range pod.Spec.EphemeralContainers {
		c := &pod.Spec.EphemeralContainers[i]
		prefix := "/spec/ephemeralContainers/" + strconv.Itoa(i)
		fn(prefix+"/securityContext", c.SecurityContext)
		fn(prefix+"/volumeMounts", c.VolumeMounts)
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
	var ops []jsonpatch.JsonPatchOperation
	var err error
	i := 0
	s.each(mutated, func(path string, after any) {
		if err != nil {
			return
		}
		if i >= len(s.parts) || s.parts[i].path != path {
			err = fmt.Errorf("computing JSON patch: the pod's containers changed between snapshot and patch at %s", path)
			return
		}
		before := s.parts[i].before
		i++
		if reflect.DeepEqual(before, after) {
			return
		}
		ops, err = diffPart(ops, path, before, after)
	})
	if err == nil && i != len(s.parts) {
		err = fmt.Errorf("computing JSON patch: the pod's containers changed between snapshot and patch")
	}
	if err != nil || len(ops) == 0 {
		return nil, err
	}
	out, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding JSON patch: %w", err)
	}
	return out, nil
}

// diffPart appends to ops the operations that turn before into after, both
// at path.
func diffPart(ops []jsonpatch.JsonPatchOperation, path string, before, after any) (_ []jsonpatch.JsonPatchOperation, err error) {
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
	for _, op := range partOps {
		op.Path = path + op.Path
		ops = append(ops, op)
	}
	return ops, nil
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

// deepCopy copies one part so later changes to the pod do not reach it.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]string:
		if t == nil {
			return t
		}
		out := make(map[string]string, len(t))
		for k, v := range t {
			out[k] = v
		}
		return out
	case *corev1.PodSecurityContext:
		return t.DeepCopy()
	case *corev1.SecurityContext:
		return t.DeepCopy()
	case []corev1.Volume:
		if t == nil {
			return t
		}
		out := make([]corev1.Volume, len(t))
		for i := range t {
			t[i].DeepCopyInto(&out[i])
		}
		return out
	case []corev1.VolumeMount:
		if t == nil {
			return t
		}
		out := make([]corev1.VolumeMount, len(t))
		for i := range t {
			t[i].DeepCopyInto(&out[i])
		}
		return out
	}
	panic(fmt.Sprintf("patch: no deep copy for %T", v))
}
