package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/secure-defaults/secure-defaults/internal/jsontree"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

func mutateYAML(t *testing.T, in string) (Result, error) {
	t.Helper()
	docs, err := Read(strings.NewReader(in), "in.yaml")
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(docs) != 1 {
		t.Fatalf("got %d documents, want 1", len(docs))
	}
	return Mutate(docs[0], defaults.Options{})
}

const bareContainer = `
      containers:
      - name: app
        image: example/app:1`

func TestMutate(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// pods are the JSON pointers of the pods Mutate must find.
		pods []string
		// changed says whether the document must change.
		changed bool
		// keep are raw JSON fragments that must appear in the output as in the input.
		keep []string
		// absent are fragments that must not appear in the output.
		absent []string
	}{{
		name:    "Deployment whose template has no metadata",
		in:      "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:" + bareContainer,
		pods:    []string{"/spec/template"},
		changed: true,
		absent:  []string{"creationTimestamp", "resources"},
	}, {
		name:    "template metadata and annotations written as null",
		in:      "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: a}\nspec:\n  template:\n    metadata:\n    spec:" + bareContainer,
		pods:    []string{"/spec/template"},
		changed: true,
	}, {
		name: "unknown fields, big integers and re-encoding noise survive as written",
		in: `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: a, creationTimestamp: null}
spec:
  x-future-field: {answer: 42}
  template:
    metadata: {creationTimestamp: null}
    spec:
      x-vendor: 9007199254740993
      containers:
      - name: app
        image: example/app:1
        resources: {}
        x-unknown: [3, 2, 1]`,
		pods:    []string{"/spec/template"},
		changed: true,
		keep:    []string{`"x-vendor":9007199254740993`, `"x-unknown":[3,2,1]`, `"resources":{}`, `"x-future-field":{"answer":42}`, `"creationTimestamp":null`},
	}, {
		name:    "CronJob",
		in:      "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}\nspec:\n  schedule: '@daily'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          restartPolicy: Never\n          containers: [{name: app, image: example/app:1}]",
		pods:    []string{"/spec/jobTemplate/spec/template"},
		changed: true,
	}, {
		name:    "PodTemplate",
		in:      "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: a}\ntemplate:\n  spec:\n    containers: [{name: app, image: example/app:1}]",
		pods:    []string{"/template"},
		changed: true,
	}, {
		name:    "Pod without apiVersion is matched on its kind",
		in:      "kind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: app, image: example/app:1}]",
		pods:    []string{""},
		changed: true,
	}, {
		name:    "Pod without spec gets one",
		in:      "apiVersion: v1\nkind: Pod\nmetadata: {name: a}",
		pods:    []string{""},
		changed: true,
	}, {
		name:    "kind: List, items by their own kind",
		in:      "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: s}}\n- apiVersion: apps/v1\n  kind: ReplicaSet\n  metadata: {name: r}\n  spec:\n    template:\n      spec:\n        containers: [{name: app, image: example/app:1}]\n- {apiVersion: v1, kind: Pod, metadata: {name: p}, spec: {containers: [{name: app, image: example/app:1}]}}",
		pods:    []string{"/items/1/spec/template", "/items/2"},
		changed: true,
	}, {
		name:    "typed list, items without kind",
		in:      "apiVersion: apps/v1\nkind: DeploymentList\nmetadata: {}\nitems:\n- metadata: {name: d}\n  spec:\n    template:\n      spec:\n        containers: [{name: app, image: example/app:1}]",
		pods:    []string{"/items/0/spec/template"},
		changed: true,
	}, {
		name: "empty List",
		in:   "apiVersion: v1\nkind: List\nitems: []",
	}, {
		name: "opted-out pod is left alone",
		in:   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  annotations: {secure-defaults.dev/inject: disabled}\nspec:\n  containers: [{name: app, image: example/app:1}]",
		pods: []string{""},
	}, {
		name: "other kinds pass through",
		in:   "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  ports: [{port: 80}]",
	}, {
		name: "a Deployment of another API group passes through",
		in:   "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template:\n    spec:" + bareContainer,
	}, {
		name: "a custom kind ending in List passes through, whatever its items",
		in:   "apiVersion: policy.example.com/v1\nkind: AllowList\nmetadata: {name: a}\nitems: [registry.example/app, 7]",
	}, {
		name: "a List of another API group passes through",
		in:   "apiVersion: example.com/v1\nkind: List\nitems: [1, 2]",
	}, {
		name: "a typed list of a kind not mutated passes through",
		in:   "apiVersion: v1\nkind: ServiceList\nitems: [{metadata: {name: s}, spec: {ports: [{port: 80}]}}]",
	}, {
		name: "document without kind passes through",
		in:   "replicaCount: 2\nimage: {tag: latest}",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := mutateYAML(t, tt.in)
			if err != nil {
				t.Fatalf("Mutate: %v", err)
			}
			var paths []string
			for _, p := range res.Pods {
				paths = append(paths, p.Path)
			}
			if strings.Join(paths, ",") != strings.Join(tt.pods, ",") {
				t.Errorf("found pods at %q, want %q", paths, tt.pods)
			}
			if changed := !bytes.Equal(res.JSON, res.Document.JSON); changed != tt.changed {
				t.Errorf("document changed = %v, want %v:\n%s", changed, tt.changed, res.JSON)
			}
			if !tt.changed && string(res.Patch) != "[]" {
				t.Errorf("patch = %s, want []", res.Patch)
			}
			// The patch, applied to the input by the API server's library,
			// gives the output.
			p, err := jsonpatch.DecodePatch(res.Patch)
			if err != nil {
				t.Fatalf("patch %s: %v", res.Patch, err)
			}
			applied, err := p.Apply(res.Document.JSON)
			if err != nil {
				t.Fatalf("applying patch %s: %v", res.Patch, err)
			}
			if !jsonpatch.Equal(applied, res.JSON) {
				t.Errorf("patch applied to the input gives\n%s\nwant the output\n%s", applied, res.JSON)
			}
			for _, path := range tt.pods {
				got := podAt(t, res.JSON, path)
				want := podAt(t, res.Document.JSON, path)
				r := defaults.Apply(want, defaults.Options{})
				if a, b := mustMarshal(t, got), mustMarshal(t, want); !bytes.Equal(a, b) {
					t.Errorf("pod at %q is\n%s\nwant what defaults.Apply makes of it\n%s", path, a, b)
				}
				if tt.changed && r.Changed() && !strings.Contains(string(res.JSON), defaults.DefaultedAnnotation) {
					t.Errorf("output lacks the %s annotation", defaults.DefaultedAnnotation)
				}
			}
			for _, k := range tt.keep {
				if !strings.Contains(string(res.JSON), k) {
					t.Errorf("output lacks %s:\n%s", k, res.JSON)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(string(res.JSON), a) {
					t.Errorf("output holds %s, which the input did not:\n%s", a, res.JSON)
				}
			}
			for _, d := range jsontree.Lost(mustDecode(t, res.Document.JSON), mustDecode(t, res.JSON), nil) {
				t.Errorf("user field changed: %s", d)
			}
		})
	}
}

func TestMutatePatchPaths(t *testing.T) {
	res, err := mutateYAML(t, "apiVersion: batch/v1\nkind: Job\nmetadata: {name: a}\nspec:\n  template:\n    spec:"+bareContainer)
	if err != nil {
		t.Fatal(err)
	}
	var ops []struct{ Op, Path string }
	if err := json.Unmarshal(res.Patch, &ops); err != nil {
		t.Fatal(err)
	}
	if len(ops) == 0 {
		t.Fatal("no patch for a Job without any hardening")
	}
	// The template has no metadata: the patch creates it before adding the
	// annotation, and every path is relative to the document.
	created := false
	for _, op := range ops {
		if op.Op == "add" && op.Path == "/spec/template/metadata" {
			created = true
		}
		if strings.HasPrefix(op.Path, "/spec/template/metadata/") && !created {
			t.Errorf("operation %s %s comes before the metadata is created", op.Op, op.Path)
		}
		if !strings.HasPrefix(op.Path, "/spec/template/") {
			t.Errorf("operation %s %s is not under /spec/template/", op.Op, op.Path)
		}
	}
	if !created {
		t.Errorf("patch %s does not create /spec/template/metadata", res.Patch)
	}
}

func TestMutateErrors(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		message string
	}{
		{"Deployment without a template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec: {replicas: 1}", "Deployment prod/web: spec.template is missing"},
		{"template is not an object", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec: {template: yes}", "Job j: spec.template is a boolean, not an object"},
		{"containers is not a list", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: app}", "Pod p: not a valid pod spec"},
		{"runAsUser is a string", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {securityContext: {runAsUser: \"1000\"}, containers: []}", "Pod p: not a valid pod spec"},
		{"List item is not an object", "apiVersion: v1\nkind: List\nitems: [{kind: Service}, 7]", "List: item 2 is a number, not an object"},
		{"List items is not a list", "apiVersion: v1\nkind: List\nitems: {a: b}", "List: items is an object, not an array"},
		{"workload inside a List", "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {}}", "List: item 1: Deployment d: spec.template is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := mutateYAML(t, tt.in)
			var e *Error
			if !errors.As(err, &e) || e.Source != "in.yaml" || e.Document != 1 {
				t.Fatalf("Mutate error = %#v, want an *Error for in.yaml document 1", err)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q lacks %q", err, tt.message)
			}
		})
	}
}

func TestWarningsNameDocumentAndObject(t *testing.T) {
	in := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: root, image: a, securityContext: {runAsUser: 0}}\n      - {name: app, image: b}"
	res, err := mutateYAML(t, in)
	if err != nil {
		t.Fatal(err)
	}
	pod := podAt(t, res.Document.JSON, "/spec/template")
	want := defaults.Apply(pod, defaults.Options{}).Warnings
	got := res.Warnings()
	if len(want) == 0 {
		t.Fatal("defaults.Apply gives no warning for a container with runAsUser: 0; docs/reference.md says it warns")
	}
	if len(got) != len(want) {
		t.Fatalf("Warnings() = %q, want one line per rule warning %q", got, want)
	}
	for i := range got {
		if got[i] != "in.yaml: document 1: Deployment prod/web: "+want[i] {
			t.Errorf("warning %q lacks the source, document and object prefix", got[i])
		}
	}
}

func TestWriteYAML(t *testing.T) {
	out, err := WriteYAML([][]byte{
		[]byte(`{"kind":"A","num":9223372036854775807,"s":"yes","path":"a\/b","mode":420}`),
		[]byte(`{"kind":"B","list":[3,1,2]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "kind: A\nmode: 420\nnum: 9223372036854775807\npath: a/b\ns: \"yes\"\n---\nkind: B\nlist:\n- 3\n- 1\n- 2\n"
	if string(out) != want {
		t.Errorf("WriteYAML =\n%s\nwant\n%s", out, want)
	}
	// The YAML reads back to the same JSON.
	docs, err := Read(bytes.NewReader(out), "out")
	if err != nil || len(docs) != 2 || string(docs[0].JSON) != `{"kind":"A","mode":420,"num":9223372036854775807,"path":"a/b","s":"yes"}` {
		t.Errorf("reading the output back: %v, %d documents", err, len(docs))
	}
}

// TestWriteYAMLKeepsNumbers: a number read from JSON comes out with its own
// text, not as the float64 the YAML encoder would make of it.
func TestWriteYAMLKeepsNumbers(t *testing.T) {
	out, err := WriteYAML([][]byte{[]byte(`{"a":1.0,"b":123456789012345678901234567890,"c":[1e3,-0,0.10,-12,1E+2],"s":"sdnum0n0z","t":"sdnum1n0z"}`)})
	if err != nil {
		t.Fatal(err)
	}
	want := "a: 1.0\nb: 123456789012345678901234567890\nc:\n- 1e3\n- -0\n- 0.10\n- -12\n- 1E+2\ns: sdnum0n0z\nt: sdnum1n0z\n"
	if string(out) != want {
		t.Errorf("WriteYAML =\n%s\nwant\n%s", out, want)
	}
}

func TestWritePatches(t *testing.T) {
	out, err := WritePatches([][]byte{[]byte("[]"), []byte("[\n {\"op\": \"add\", \"path\": \"/a\", \"value\": 1}\n]")})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[]\n[{\"op\":\"add\",\"path\":\"/a\",\"value\":1}]\n"; string(out) != want {
		t.Errorf("WritePatches = %q, want %q", out, want)
	}
}
