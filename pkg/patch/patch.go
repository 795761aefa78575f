package patch

import (
	"encoding/json"
	"fmt"

	"github.com/mattbaird/jsonpatch"
	corev1 "k8s.io/api/core/v1"
)

// Create returns the JSON patch (a JSON array of operations) that turns
// original into mutated, or nil when they are equal.
//
// Both pods are typed, so the patch holds only what the rules changed: fields
// the typed model drops or normalises (unknown fields, creationTimestamp: null,
// resources: {}) are the same on both sides and produce no operation, and the
// patch therefore applies cleanly to the raw object the API server sent.
// The rules only ever append to arrays, the one shape of array change that
// github.com/mattbaird/jsonpatch diffs correctly. A panic in the library is
// returned as an error.
func Create(original, mutated *corev1.Pod) (patch []byte, err error) {
	a, err := json.Marshal(original)
	if err != nil {
		return nil, fmt.Errorf("encoding original pod: %w", err)
	}
	b, err := json.Marshal(mutated)
	if err != nil {
		return nil, fmt.Errorf("encoding mutated pod: %w", err)
	}
	return createFromJSON(a, b)
}

func createFromJSON(a, b []byte) (patch []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			patch, err = nil, fmt.Errorf("computing JSON patch: %v", r)
		}
	}()
	ops, err := jsonpatch.CreatePatch(a, b)
	if err != nil {
		return nil, fmt.Errorf("computing JSON patch: %w", err)
	}
	if len(ops) == 0 {
		return nil, nil
	}
	out, err := json.Marshal(ops)
	if err != nil {
		return nil, fmt.Errorf("encoding JSON patch: %w", err)
	}
	return out, nil
}
