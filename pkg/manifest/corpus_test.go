package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"

	"github.com/secure-defaults/secure-defaults/internal/jsontree"
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
	wantRestrictedPods = 23 // must pass "restricted" after mutation
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

// run mutates src as the mutate command does and returns the results and the
// YAML output.
func run(t *testing.T, name string, src []byte) ([]Result, []byte) {
	t.Helper()
	docs, err := Read(bytes.NewReader(src), name)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	var (
		results []Result
		objs    [][]byte
	)
	for _, d := range docs {
		r, err := Mutate(d)
		if err != nil {
			t.Fatalf("Mutate: %v", err)
		}
		results = append(results, r)
		objs = append(objs, r.JSON)
	}
	out, err := WriteYAML(objs)
	if err != nil {
		t.Fatalf("WriteYAML: %v", err)
	}
	return results, out
}

func goldenName(file string) string {
	base := filepath.Base(file)
	return filepath.Join("testdata", "golden", strings.TrimSuffix(base, filepath.Ext(base)))
}

func TestCorpusGolden(t *testing.T) {
	for _, f := range corpusFiles(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			src := readFile(t, f)
			results, out := run(t, filepath.Base(f), src)
			var warnings []byte
			for _, r := range results {
				for _, w := range r.Warnings() {
					warnings = append(warnings, w+"\n"...)
				}
			}
			compareGolden(t, goldenName(f)+".yaml", out)
			compareGolden(t, goldenName(f)+".warnings", warnings)
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
