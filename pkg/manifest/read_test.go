package manifest

import (
	"errors"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	type doc struct {
		index, line int
		json        string
	}
	tests := []struct {
		name string
		in   string
		want []doc
	}{{
		name: "multi-document YAML, empty and comment-only documents skipped",
		in:   "---\n# header\n---\na: 1\n---\n\n---\n# just a comment\n---\nb: [x, 2]\n...\n",
		want: []doc{{1, 4, `{"a":1}`}, {2, 10, `{"b":["x",2]}`}},
	}, {
		name: "separator with a trailing comment, content after it",
		in:   "a: 1\n--- # next\nb: 2\n",
		want: []doc{{1, 1, `{"a":1}`}, {2, 3, `{"b":2}`}},
	}, {
		name: "a line that merely starts with dashes is content",
		in:   "a: |\n  x\n  ---not a separator\n",
		want: []doc{{1, 1, `{"a":"x\n---not a separator\n"}`}},
	}, {
		name: "JSON stream, numbers kept exactly",
		in:   "{\"a\": 9007199254740993}\n\n  {\"b\": 1.50}",
		want: []doc{{1, 1, `{"a":9007199254740993}`}, {2, 3, `{"b":1.50}`}},
	}, {
		name: "single JSON object over several lines",
		in:   "\n{\n  \"kind\": \"Pod\"\n}\n",
		want: []doc{{1, 2, `{"kind":"Pod"}`}},
	}, {
		name: "byte order mark",
		in:   "\xef\xbb\xbfa: 1\n",
		want: []doc{{1, 1, `{"a":1}`}},
	}, {
		name: "merge key with an explicit key that overrides the merged one",
		in:   "base: &base {a: 1, b: 2}\nderived:\n  <<: *base\n  b: 3\n",
		want: []doc{{1, 1, `{"base":{"a":1,"b":2},"derived":{"a":1,"b":3}}`}},
	}, {
		name: "flow-style document that starts with { but is not JSON",
		in:   "{kind: Pod, metadata: {name: p}}\n",
		want: []doc{{1, 1, `{"kind":"Pod","metadata":{"name":"p"}}`}},
	}, {
		name: "JSON document followed by --- and YAML",
		in:   "{\"kind\": \"Service\"}\n---\nkind: Pod\n",
		want: []doc{{1, 1, `{"kind":"Service"}`}, {2, 3, `{"kind":"Pod"}`}},
	}, {
		name: "JSON between YAML separators is read as JSON",
		in:   "kind: A\n---\n{\"path\": \"a\\/b\", \"n\": 1.0}\n",
		want: []doc{{1, 1, `{"kind":"A"}`}, {2, 3, `{"path":"a\/b","n":1.0}`}},
	}, {
		name: "content after the separator",
		in:   "a: 1\n--- {b: 2}\n",
		want: []doc{{1, 1, `{"a":1}`}, {2, 2, `{"b":2}`}},
	}, {
		name: "empty input",
		in:   "",
		want: nil,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := Read(strings.NewReader(tt.in), "in.yaml")
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			if len(docs) != len(tt.want) {
				t.Fatalf("got %d documents, want %d", len(docs), len(tt.want))
			}
			for i, w := range tt.want {
				d := docs[i]
				if d.Source != "in.yaml" || d.Index != w.index || d.Line != w.line || string(d.JSON) != w.json {
					t.Errorf("document %d = {%s %d line %d %s}, want {in.yaml %d line %d %s}", i, d.Source, d.Index, d.Line, d.JSON, w.index, w.line, w.json)
				}
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		document int
		line     int
		message  string
	}{
		{"bad YAML in the second document", "a: 1\n---\n# c\nb: [1\n", 2, 4, "invalid YAML"},
		{"duplicate key loses data", "a: 1\na: 2\n", 1, 1, `key "a" given twice in the document's top level (line 2)`},
		{"duplicate nested key", "spec:\n  securityContext:\n    runAsNonRoot: false\n    runAsNonRoot: true\n", 1, 1, `key "runAsNonRoot" given twice in /spec/securityContext (line 4)`},
		{"duplicate JSON key", `{"spec": {"securityContext": {"runAsNonRoot": false, "runAsNonRoot": true}}}`, 1, 1, `key "runAsNonRoot" given twice in /spec/securityContext`},
		{"duplicate JSON key in a list item", "{\"a\": 1}\n{\"items\": [{}, {\"x\": 1, \"x\": 1}]}", 2, 2, `key "x" given twice in /items/1`},
		{"duplicate JSON key after YAML", "a: 1\n---\n{\"b\": 1, \"b\": 2}\n", 2, 3, `key "b" given twice`},
		{"scalar document", "a: 1\n---\njust text\n", 2, 3, "a string, not an object"},
		{"sequence document", "- a\n- b\n", 1, 1, "an array"},
		{"JSON array", "[{\"a\": 1}]", 1, 1, "an array"},
		{"broken second JSON object, not YAML either", "{\"a\": 1}\n{\"b\": ]}\n", 2, 2, "invalid YAML"},
		{"JSON scalar after an object", "{\"a\": 1}\n42\n", 2, 2, "a number, not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.in), "in.yaml")
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Read error = %v, want an *Error", err)
			}
			if e.Source != "in.yaml" || e.Document != tt.document || e.Line != tt.line {
				t.Errorf("error names %s document %d line %d, want in.yaml document %d line %d", e.Source, e.Document, e.Line, tt.document, tt.line)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.HasPrefix(err.Error(), "in.yaml: document ") {
				t.Errorf("error %q does not start with the source and document, or lacks %q", err, tt.message)
			}
		})
	}
}
