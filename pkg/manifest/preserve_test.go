package manifest

import (
	"bytes"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// preserve runs the preserving writer over in, checking on the way that the
// output reads back as every document plus its patch.
func preserve(t *testing.T, in string) (string, []string) {
	t.Helper()
	f, err := ReadFile(strings.NewReader(in), "in")
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	var results []Result
	for _, d := range f.Documents {
		r, err := Mutate(d, defaults.Options{})
		if err != nil {
			t.Fatalf("Mutate: %v", err)
		}
		results = append(results, r)
	}
	out, notes, err := f.Preserve(results)
	if err != nil {
		t.Fatalf("Preserve: %v", err)
	}
	back, err := Read(bytes.NewReader(out), "out")
	if err != nil {
		t.Fatalf("output does not read back: %v\n%s", err, out)
	}
	if len(back) != len(results) {
		t.Fatalf("output holds %d documents, want %d:\n%s", len(back), len(results), out)
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
			t.Fatalf("document %d reads back as\n%s\nwant\n%s", i+1, back[i].JSON, want)
		}
	}
	return string(out), notes
}

const (
	pod      = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n"
	ann      = "secure-defaults.dev/defaulted: drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default"
	podSC    = "  securityContext:\n    runAsNonRoot: true\n    seccompProfile:\n      type: RuntimeDefault\n"
	ctrSCNon = "    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities:\n        drop:\n        - ALL\n"
)

func TestPreserve(t *testing.T) {
	tests := []struct {
		name, in, want string
		note           string // part of the note when the document is written normalised
	}{{
		name: "block style, lists under their key",
		in:   pod + "spec:\n  containers:\n  - name: a\n    image: a\n",
		want: pod + "  annotations:\n    " + ann + "\nspec:\n  containers:\n  - name: a\n    image: a\n" + ctrSCNon + podSC,
	}, {
		name: "block style, lists indented, four-space mappings",
		in:   "apiVersion: v1\nkind: Pod\nmetadata:\n    name: p\nspec:\n    containers:\n      - name: a\n        image: a\n",
		want: "apiVersion: v1\nkind: Pod\nmetadata:\n    name: p\n    annotations:\n        " + ann + "\nspec:\n    containers:\n      - name: a\n        image: a\n" +
			"        securityContext:\n            allowPrivilegeEscalation: false\n            capabilities:\n                drop:\n                  - ALL\n" +
			"    securityContext:\n        runAsNonRoot: true\n        seccompProfile:\n            type: RuntimeDefault\n",
	}, {
		name: "a file that mixes list styles: each collection written like its own text",
		in:   "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  volumes:\n  - name: v\n    emptyDir: {}\n  containers:\n    - name: a\n      volumeMounts:\n        - {name: v, mountPath: /v}\n",
		want: "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  annotations:\n    " + ann + "\nspec:\n  volumes:\n  - name: v\n    emptyDir: {}\n  containers:\n    - name: a\n      volumeMounts:\n        - {name: v, mountPath: /v}\n" +
			"      securityContext:\n        allowPrivilegeEscalation: false\n        capabilities:\n          drop:\n            - ALL\n" + podSC,
	}, {
		name: "comments stay where they are; trailing ones indented like the content stay inside",
		in:   "# head\n" + pod + "spec: # the pod\n  containers:\n  - name: a # first\n    image: a\n    # more to come\n\n  # volumes later\n",
		want: "# head\n" + pod + "  annotations:\n    " + ann + "\nspec: # the pod\n  containers:\n  - name: a # first\n    image: a\n    # more to come\n" + ctrSCNon + podSC + "\n  # volumes later\n",
	}, {
		name: "flow collections grow in place",
		in:   pod + "spec:\n  containers: [{name: a, image: a, securityContext: {capabilities: {drop: [NET_RAW]}}}]\n",
		want: pod + "  annotations:\n    " + ann + "\nspec:\n  containers: [{name: a, image: a, securityContext: {capabilities: {drop: [NET_RAW, ALL]}, allowPrivilegeEscalation: false}}]\n" + podSC,
	}, {
		name: "a literal block scalar ending in lines that look like comments",
		in:   pod + "spec:\n  containers:\n  - name: a\n    command:\n    - sh\n    - -c\n    - |\n      echo hi\n      # not a comment\n",
		want: pod + "  annotations:\n    " + ann + "\nspec:\n  containers:\n  - name: a\n    command:\n    - sh\n    - -c\n    - |\n      echo hi\n      # not a comment\n" + ctrSCNon + podSC,
	}, {
		name: "multi-line plain and quoted scalars",
		in:   pod + "spec:\n  containers:\n  - name: a\n    args:\n    - one\n      two\n    image: \"a\n      b\"\n",
		want: pod + "  annotations:\n    " + ann + "\nspec:\n  containers:\n  - name: a\n    args:\n    - one\n      two\n    image: \"a\n      b\"\n" + ctrSCNon + podSC,
	}, {
		name: "metadata written as nothing gets its value under the key",
		in:   "apiVersion: v1\nkind: Pod\nmetadata: # none\nspec:\n  containers:\n  - name: a\n",
		want: "apiVersion: v1\nkind: Pod\nmetadata: # none\n  annotations:\n    " + ann + "\nspec:\n  containers:\n  - name: a\n" + ctrSCNon + podSC,
	}, {
		name: "a field written as nothing gets its value after the colon, before the comment",
		in:   pod + "spec:\n  containers:\n  - name: a\n    securityContext:\n      allowPrivilegeEscalation: # decide later\n      \"privileged\":\n",
		want: pod + "  annotations:\n    " + ann + "\nspec:\n  containers:\n  - name: a\n    securityContext:\n      allowPrivilegeEscalation: false # decide later\n      \"privileged\":\n" +
			"      capabilities:\n        drop:\n        - ALL\n" + podSC,
	}, {
		name: "empty collections the patch fills",
		in:   "kind: Pod\nmetadata: {name: a, annotations: {}}\nspec:\n  containers:\n  - name: a\n    securityContext:\n      capabilities: {drop: []}\n  securityContext: {}\n",
		want: "kind: Pod\nmetadata: {name: a, annotations: {" + strings.Replace(ann, ": ", ": \"", 1) + "\"}}\nspec:\n  containers:\n  - name: a\n    securityContext:\n      capabilities: {drop: [ALL]}\n      allowPrivilegeEscalation: false\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n",
	}, {
		name: "CRLF line endings, no newline at the end",
		in:   strings.ReplaceAll(pod+"spec:\n  containers:\n  - name: a", "\n", "\r\n"),
		want: strings.ReplaceAll(pod+"  annotations:\n    "+ann+"\nspec:\n  containers:\n  - name: a\n"+ctrSCNon+strings.TrimSuffix(podSC, "\n"), "\n", "\r\n"),
	}, {
		name: "documents that need nothing, separators and comments between documents stay byte for byte",
		in:   "# file head\n---\nkind: Service # svc\nspec: {ports: [{port: 80}]}\nnumbers: [1.0, 123456789012345678901234567890, 0x1F, 1e3]\n--- # next\n" + pod + "spec:\n  containers:\n  - name: a\n...\n# trailer\n",
		want: "# file head\n---\nkind: Service # svc\nspec: {ports: [{port: 80}]}\nnumbers: [1.0, 123456789012345678901234567890, 0x1F, 1e3]\n--- # next\n" + pod + "  annotations:\n    " + ann + "\nspec:\n  containers:\n  - name: a\n" + ctrSCNon + podSC + "...\n# trailer\n",
	}, {
		name: "content on the separator line",
		in:   "kind: Service\n--- {kind: Pod, spec: {containers: [{name: a}]}}\n",
		want: "kind: Service\n--- {kind: Pod, spec: {containers: [{name: a, securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}}], securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}}, metadata: {annotations: {secure-defaults.dev/defaulted: \"drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default\"}}}\n",
	}, {
		name: "compact JSON stays compact",
		in:   `{"kind":"Pod","spec":{"containers":[{"name":"a","n":1.0}]}}` + "\n",
		want: `{"kind":"Pod","spec":{"containers":[{"name":"a","n":1.0,"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}],"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}}},"metadata":{"annotations":{"secure-defaults.dev/defaulted":"drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default"}}}` + "\n",
	}, {
		name: "indented JSON with tabs, escaped slash",
		in:   "{\n\t\"kind\": \"Pod\",\n\t\"metadata\": {\"name\": \"a\\/b\"},\n\t\"spec\": {\n\t\t\"containers\": []\n\t}\n}\n",
		want: "{\n\t\"kind\": \"Pod\",\n\t\"metadata\": {\"name\": \"a\\/b\", \"annotations\": {\"secure-defaults.dev/defaulted\": \"run-as-non-root,seccomp-runtime-default\"}},\n\t\"spec\": {\n\t\t\"containers\": [],\n\t\t\"securityContext\": {\n\t\t\t\"runAsNonRoot\": true,\n\t\t\t\"seccompProfile\": {\n\t\t\t\t\"type\": \"RuntimeDefault\"\n\t\t\t}\n\t\t}\n\t}\n}\n",
	}, {
		name: "JSON followed by YAML",
		in:   "{\"kind\": \"Service\"}\n---\n" + pod + "spec:\n  containers: []\n",
		want: "{\"kind\": \"Service\"}\n---\n" + pod + "  annotations:\n    secure-defaults.dev/defaulted: run-as-non-root,seccomp-runtime-default\nspec:\n  containers: []\n" + podSC,
	}, {
		name: "merge key with override: the defaults go beside it",
		in:   "base: &base {name: a, image: a}\n---\n" + pod + "spec:\n  containers:\n  - <<: {name: a, image: b}\n    image: c\n",
		want: "base: &base {name: a, image: a}\n---\n" + pod + "  annotations:\n    " + ann + "\nspec:\n  containers:\n  - <<: {name: a, image: b}\n    image: c\n" + ctrSCNon + podSC,
	}, {
		name: "a value shared through an anchor is not edited: normalised",
		in:   pod + "spec:\n  containers:\n  - &c\n    name: a\nextra: [*c]\n",
		note: "goes through a YAML anchor (&c) that other places may share",
	}, {
		name: "a value shared by two containers: normalised",
		// (a whole container shared would repeat its name, which the rules
		// leave alone: the API server rejects such a pod)
		in:   pod + "spec:\n  containers:\n  - name: a\n    securityContext: &s\n      readOnlyRootFilesystem: true\n  initContainers:\n  - name: b\n    securityContext: *s\n",
		note: "goes through a YAML a",
	}, {
		name: "a value reached through an alias: normalised",
		in:   "x: &ctrs\n  - name: a\nkind: Pod\nspec:\n  containers: *ctrs\n",
		note: "goes through a YAML alias (*ctrs)",
	}, {
		name: "a value reached through a merge key: normalised",
		in:   "kind: Pod\nspec:\n  <<: {containers: [{name: a}]}\n",
		note: "reached through a YAML merge key",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, notes := preserve(t, tt.in)
			if tt.note != "" {
				if len(notes) != 1 || !strings.Contains(notes[0], tt.note) || !strings.Contains(notes[0], "in: document ") {
					t.Errorf("notes %q, want one naming the document and saying %q", notes, tt.note)
				}
				return
			}
			if len(notes) > 0 {
				t.Errorf("notes: %q", notes)
			}
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			again, _ := preserve(t, got)
			if again != got {
				t.Errorf("a second pass changed the output:\n%s", again)
			}
		})
	}
}
