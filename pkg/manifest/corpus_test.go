package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/secure-defaults/secure-defaults/internal/jsontree"
	"github.com/secure-defaults/secure-defaults/internal/textdiff"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// insecureMarker is the annotation a corpus fixture carries, on the object
// that holds a pod, when the pod makes an explicit choice the restricted Pod
// Security level forbids (host namespaces, privileged, root, added
// capabilities...). Its value says which.
const insecureMarker = "test.secure-defaults.dev/insecure"

// Pods in the corpus, by how the PSA oracle treats them. Update these when
// adding fixtures: they keep the oracle from silently checking nothing.
const (
	wantRestrictedPods = 25 // must pass "restricted" after mutation
	wantInsecurePods   = 9  // marked; must still fail "restricted" (the marker is true)
	wantOptedOutPods   = 1  // must come out unchanged
)

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

func corpusFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	for _, pat := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(filepath.Join("testdata", "corpus", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	if len(files) < 15 {
		t.Fatalf("corpus holds %d files, want at least 15", len(files))
	}
	return files
}

// run mutates src as the mutate command does and returns the results, the
// normalised YAML output, and the preserving output with its notes.
func run(t *testing.T, name string, src []byte) ([]Result, []byte) {
	t.Helper()
	results, normalized, _, _ := runAll(t, name, src)
	return results, normalized
}

func runAll(t *testing.T, name string, src []byte) (results []Result, normalized, preserved []byte, notes []string) {
	t.Helper()
	f, err := ReadFile(bytes.NewReader(src), name)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	var objs [][]byte
	for _, d := range f.Documents {
		r, err := Mutate(d, defaults.Options{})
		if err != nil {
			t.Fatalf("Mutate: %v", err)
		}
		results = append(results, r)
		objs = append(objs, r.JSON)
	}
	if normalized, err = WriteYAML(objs); err != nil {
		t.Fatalf("WriteYAML: %v", err)
	}
	if preserved, notes, err = f.Preserve(results); err != nil {
		t.Fatalf("Preserve: %v", err)
	}
	return results, normalized, preserved, notes
}

// goldenName is the golden file of a corpus file: the same name, under
// testdata/golden, or testdata/golden/normalized with ".yaml" for the
// normalised output.
func goldenName(file string, normalized bool) string {
	base := filepath.Base(file)
	if normalized {
		return filepath.Join("testdata", "golden", "normalized", strings.TrimSuffix(base, filepath.Ext(base))+".yaml")
	}
	return filepath.Join("testdata", "golden", base)
}

// TestCorpusGolden holds the output of both writers, and the warnings and
// notes, for every corpus file.
func TestCorpusGolden(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src := readFile(t, f)
			results, normalized, preserved, notes := runAll(t, filepath.Base(f), src)
			var warnings []byte
			for _, r := range results {
				for _, w := range r.Warnings() {
					warnings = append(warnings, w+"\n"...)
				}
			}
			for _, n := range notes {
				warnings = append(warnings, "note: "+n+"\n"...)
			}
			compareGolden(t, goldenName(f, false), preserved)
			compareGolden(t, goldenName(f, true), normalized)
			base := strings.TrimSuffix(goldenName(f, false), filepath.Ext(f))
			compareGolden(t, base+".warnings", warnings)
		})
	}
}

// TestCorpusOnlyAdds checks the promise of the preserving writer on every
// corpus file and the example: the output is the input with text inserted.
// Line by line, the diff of input and output shows added lines only, except
// where a flow collection grows in place ("drop: [NET_RAW]" gaining ", ALL",
// an empty JSON object gaining members) or a JSON member gains the comma
// before a new sibling: there the removed lines, taken together, are a
// subsequence of the lines that replace them, so taking the added text out
// gives back the input byte for byte.
func TestCorpusOnlyAdds(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil || len(examples) < 2 {
		t.Fatalf("examples: %v, %v", examples, err)
	}
	files := append(corpusFiles(t), examples...)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src := readFile(t, f)
			_, _, out, notes := runAll(t, filepath.Base(f), src)
			if len(notes) > 0 {
				t.Errorf("notes: %v", notes)
			}
			if bytes.Equal(src, out) {
				return
			}
			edits := textdiff.Lines(src, out)
			added := 0
			for i := 0; i < len(edits); {
				if edits[i].Kind == textdiff.Same {
					i++
					continue
				}
				var removed []string
				var inserted string
				for ; i < len(edits) && edits[i].Kind != textdiff.Same; i++ {
					switch e := edits[i]; e.Kind {
					case textdiff.Delete:
						removed = append(removed, e.Line)
					case textdiff.Insert:
						inserted += e.Line
						added++
					}
				}
				for _, l := range removed {
					if !strings.ContainsAny(l, "[]{}") && !strings.Contains(inserted, strings.TrimRight(l, "\r\n")+",") {
						t.Errorf("line removed or rewritten: %q", l)
					}
				}
				if !isSubsequence(strings.Join(removed, ""), inserted) {
					t.Errorf("lines rewritten, not only grown:\n%s\nbecame\n%s", removed, inserted)
				}
			}
			if added == 0 {
				t.Errorf("output differs from the input but adds nothing")
			}
		})
	}
}

// isSubsequence reports whether a can be obtained from b by deleting bytes.
func isSubsequence(a, b string) bool {
	i := 0
	for j := 0; i < len(a) && j < len(b); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}

// TestCorpusPreservedIsPatched checks that every document of the preserving
// output reads back as the input document with its patch applied (by the
// API server's JSON-patch library), and that a second pass over the output
// changes nothing.
func TestCorpusPreservedIsPatched(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			results, _, out, _ := runAll(t, filepath.Base(f), readFile(t, f))
			back, err := Read(bytes.NewReader(out), "out")
			if err != nil {
				t.Fatalf("output does not read back: %v", err)
			}
			if len(back) != len(results) {
				t.Fatalf("output holds %d documents, input %d", len(back), len(results))
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
				if !sameJSON(t, back[i].JSON, want) {
					t.Errorf("document %d reads back as\n%s\nwant the input plus its patch\n%s", i+1, back[i].JSON, want)
				}
			}
			_, _, again, _ := runAll(t, "second", out)
			if !bytes.Equal(again, out) {
				t.Errorf("a second pass changed the output:\n%s", again)
			}
		})
	}
}

// compareGolden compares got with the golden file; an empty got means the
// golden file must not exist.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if updateGolden {
		if len(got) == 0 {
			if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			return
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		want, err = nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (rerun with UPDATE_GOLDEN=1 and review the diff):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestCorpusIdempotent(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, once := run(t, "first", readFile(t, f))
			results, twice := run(t, "second", once)
			if !bytes.Equal(once, twice) {
				t.Errorf("a second pass changed the output:\n--- first\n%s\n--- second\n%s", once, twice)
			}
			for _, r := range results {
				if string(r.Patch) != "[]" {
					t.Errorf("document %d: a second pass produced a patch: %s", r.Document.Index, r.Patch)
				}
			}
		})
	}
}

// TestCorpusKeepsUserFields checks that nothing the user wrote changes: every
// leaf of every input document is in the output with the same value, and
// arrays only grow at the end.
func TestCorpusKeepsUserFields(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			results, _ := run(t, filepath.Base(f), readFile(t, f))
			for _, r := range results {
				in, out := mustDecode(t, r.Document.JSON), mustDecode(t, r.JSON)
				for _, p := range jsontree.Lost(in, out, nil) {
					t.Errorf("document %d: %s", r.Document.Index, p)
				}
			}
		})
	}
}

// TestCorpusMatchesRules checks that each pod in the output is exactly what
// defaults.Apply makes of the pod in the input.
func TestCorpusMatchesRules(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			results, _ := run(t, filepath.Base(f), readFile(t, f))
			for _, r := range results {
				for _, p := range r.Pods {
					want := podAt(t, r.Document.JSON, p.Path)
					defaults.Apply(want, defaults.Options{})
					got := podAt(t, r.JSON, p.Path)
					if a, b := mustMarshal(t, got), mustMarshal(t, want); !bytes.Equal(a, b) {
						t.Errorf("document %d, %s: output pod\n%s\nwant what defaults.Apply makes of the input\n%s", r.Document.Index, p.Object, a, b)
					}
				}
			}
		})
	}
}

// TestCorpusPodSecurityRestricted is the PSA oracle: every pod the rules
// mutated, and whose manifest makes no explicit insecure choice, passes the
// restricted Pod Security level (latest version).
func TestCorpusPodSecurityRestricted(t *testing.T) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	restricted := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	var checked, insecure, optedOut int
	for _, f := range corpusFiles(t) {
		results, _ := run(t, filepath.Base(f), readFile(t, f))
		for _, r := range results {
			doc := mustDecode(t, r.JSON)
			for _, p := range r.Pods {
				where := filepath.Base(f) + ": " + p.Object
				pod := podAt(t, r.JSON, p.Path)
				agg := policy.AggregateCheckResults(evaluator.EvaluatePod(restricted, &pod.ObjectMeta, &pod.Spec))
				switch reason := marker(doc, p.Path); {
				case p.OptedOut:
					optedOut++
					if a, b := mustMarshal(t, pod), mustMarshal(t, podAt(t, r.Document.JSON, p.Path)); !bytes.Equal(a, b) {
						t.Errorf("%s: opted out, but changed", where)
					}
				case reason != "":
					insecure++
					if agg.Allowed {
						t.Errorf("%s: marked insecure (%s) but passes restricted: drop the marker", where, reason)
					}
				default:
					checked++
					if !agg.Allowed {
						t.Errorf("%s: fails restricted after mutation: %s: %s", where, agg.ForbiddenReason(), agg.ForbiddenDetail())
					}
				}
			}
		}
	}
	if checked != wantRestrictedPods || insecure != wantInsecurePods || optedOut != wantOptedOutPods {
		t.Errorf("checked %d pods against restricted, %d marked insecure, %d opted out; want %d, %d, %d",
			checked, insecure, optedOut, wantRestrictedPods, wantInsecurePods, wantOptedOutPods)
	}
}

// marker returns the insecureMarker annotation of the nearest object, on the
// way from the document root to the pod at path, that carries it.
func marker(doc any, path string) string {
	nodes, _ := jsontree.Path(doc, path)
	found := ""
	for _, n := range nodes {
		m, _ := n.(map[string]any)
		meta, _ := m["metadata"].(map[string]any)
		ann, _ := meta["annotations"].(map[string]any)
		if v, ok := ann[insecureMarker].(string); ok {
			found = v
		}
	}
	return found
}

// podAt decodes the pod at path (a Pod, or a pod template) in the document.
func podAt(t *testing.T, doc []byte, path string) *corev1.Pod {
	t.Helper()
	nodes, err := jsontree.Path(mustDecode(t, doc), path)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := nodes[len(nodes)-1].(map[string]any)
	pod, err := decodePod(mustMarshal(t, map[string]any{"metadata": m["metadata"], "spec": m["spec"]}))
	if err != nil {
		t.Fatalf("pod at %q: %v", path, err)
	}
	return pod
}

func mustDecode(t *testing.T, b []byte) any {
	t.Helper()
	v, err := jsontree.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
