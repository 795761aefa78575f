package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// FuzzMutate feeds arbitrary manifests through Read and Mutate: bad input
// must give an error, never a panic, and whatever is mutated must be the
// input plus the patch, and stable under a second pass.
func FuzzMutate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("kind: Pod\nspec:\n  containers: [{name: a, securityContext: {readOnlyRootFilesystem: true}}]\n"))
	f.Add([]byte(`{"kind":"List","items":[{"kind":"Pod","metadata":null,"spec":{"containers":[{"name":"a"}]}}]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		docs, err := Read(bytes.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		for _, d := range docs {
			res, err := Mutate(d, defaults.Options{})
			if err != nil {
				continue
			}
			p, err := jsonpatch.DecodePatch(res.Patch)
			if err != nil {
				t.Fatalf("patch %s does not decode: %v", res.Patch, err)
			}
			applied, err := p.Apply(d.JSON)
			if err != nil {
				t.Fatalf("patch %s does not apply to %s: %v", res.Patch, d.JSON, err)
			}
			// Not jsonpatch.Equal: it panics on null array elements.
			if !sameJSON(t, applied, res.JSON) {
				t.Fatalf("patch applied to the input is not the output")
			}
			again, err := Mutate(Document{Source: "fuzz", Index: 1, JSON: res.JSON}, defaults.Options{})
			if err != nil {
				t.Fatalf("second pass over %s: %v", res.JSON, err)
			}
			if string(again.Patch) != "[]" {
				t.Fatalf("second pass over %s changed it: %s", res.JSON, again.Patch)
			}
		}
	})
}

// sameJSON reports whether a and b hold the same JSON value, numbers compared
// by their text.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	decode := func(in []byte) any {
		d := json.NewDecoder(bytes.NewReader(in))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decoding %s: %v", in, err)
		}
		return v
	}
	return reflect.DeepEqual(decode(a), decode(b))
}
