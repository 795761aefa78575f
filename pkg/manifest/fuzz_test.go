package manifest

import (
	"bytes"
	"os"
	"path/filepath"
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
	// Shapes kubectl reads: merge keys with an override, flow documents that
	// are not JSON, JSON then YAML, duplicate keys, custom kinds ending in List.
	for _, s := range []string{
		"base: &b {name: a, image: x}\n---\nkind: Pod\nspec:\n  containers:\n  - <<: *b\n    image: y\n",
		"{kind: Pod, spec: {containers: [{name: a}]}}\n",
		"{\"kind\": \"Pod\", \"spec\": {\"containers\": []}}\n---\nkind: Pod\nspec: {containers: [{name: a}]}\n",
		`{"kind":"Pod","spec":{"securityContext":{"runAsNonRoot":false,"runAsNonRoot":true},"containers":[]}}`,
		"apiVersion: example.com/v1\nkind: AllowList\nitems: [a, 1]\n",
		"kind: Thing\nn: [1.0, 123456789012345678901234567890]\n",
	} {
		f.Add([]byte(s))
	}
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
	same, err := sameJSONValue(a, b)
	if err != nil {
		t.Fatalf("comparing %s and %s: %v", a, b, err)
	}
	return same
}

// FuzzPreserve feeds arbitrary manifests through the preserving writer: it
// must never panic or fail on a file that reads and mutates; its output must
// read back as every document plus its patch (notes allowed: those documents
// are written normalised); the documents that needed nothing must be in the
// output byte for byte; and a second pass must change nothing.
func FuzzPreserve(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "corpus", "*"))
	for _, file := range files {
		if b, err := os.ReadFile(file); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"kind: Pod\nspec:\n  containers:\n    - name: a\n      command: |\n        # x\n",
		"kind: Pod\nmetadata:\nspec: {containers: [{name: a, image: 'x''y'}]}\n",
		"{\n  \"kind\": \"Pod\",\n  \"spec\": {\"containers\": [\n    {\"name\": \"a\"}\n  ]}\n}\n---\nkind: Pod\nspec:\n  containers: [ ]\n",
		"x: &a {name: a}\nkind: Pod\nspec:\n  containers: [*a]\n",
		"kind: Pod\r\nspec:\r\n  containers:\r\n  - name: a # c\r\n    # d\r\n",
		"--- {kind: Pod, spec: {containers: [{name: a}, ]}}\n...\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := ReadFile(bytes.NewReader(in), "fuzz")
		if err != nil {
			return
		}
		var results []Result
		for _, d := range file.Documents {
			r, err := Mutate(d, defaults.Options{})
			if err != nil {
				return
			}
			results = append(results, r)
		}
		out, notes, err := file.Preserve(results)
		if err != nil {
			t.Fatalf("Preserve: %v", err)
		}
		back, err := ReadFile(bytes.NewReader(out), "out")
		if err != nil {
			t.Fatalf("output does not read back: %v\n%s", err, out)
		}
		if len(back.Documents) != len(results) {
			t.Fatalf("output holds %d documents, want %d:\n%s", len(back.Documents), len(results), out)
		}
		for i, r := range results {
			p, err := jsonpatch.DecodePatch(r.Patch)
			if err != nil {
				t.Fatal(err)
			}
			want, err := p.Apply(r.Document.JSON)
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, back.Documents[i].JSON, want) {
				t.Fatalf("document %d reads back as\n%s\nwant\n%s", i+1, back.Documents[i].JSON, want)
			}
			if string(r.Patch) == "[]" {
				d, b := file.Documents[i], back.Documents[i]
				if !bytes.Equal(file.Data[d.start:d.end], back.Data[b.start:b.end]) {
					t.Fatalf("document %d needed nothing but its text changed", i+1)
				}
			}
		}
		if len(notes) == 0 {
			// What was added is only added: the input is a subsequence of the output.
			if !isSubsequence(string(in), string(out)) {
				t.Fatalf("output is not the input plus insertions:\n%s", out)
			}
		}
		var again []Result
		for _, d := range back.Documents {
			r, err := Mutate(d, defaults.Options{})
			if err != nil {
				t.Fatalf("second pass: %v", err)
			}
			again = append(again, r)
		}
		out2, _, err := back.Preserve(again)
		if err != nil || !bytes.Equal(out2, out) {
			t.Fatalf("a second pass changed the output (%v):\n%s", err, out2)
		}
	})
}
