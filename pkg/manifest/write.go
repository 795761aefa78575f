package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// WriteYAML renders the documents as one YAML stream, in order, separated by
// "---" lines. Keys come out sorted and comments are not kept; values,
// including integers up to 64 bits, come out as they went in.
func WriteYAML(docs [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	for i, d := range docs {
		// Re-encode through encoding/json first: JSON from a file may hold
		// escapes (such as "\/") that the YAML parser below reads differently.
		obj, err := decodeObject(d)
		if err != nil {
			return nil, err
		}
		j, err := json.Marshal(obj)
		if err != nil {
			return nil, err
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			return nil, fmt.Errorf("converting to YAML: %w", err)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}

// WritePatches renders one line per document, in order: the JSON patch
// (RFC 6902) that turns the input document into the mutated one, with paths
// relative to the document, and "[]" for a document left unchanged.
func WritePatches(patches [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	for _, p := range patches {
		if err := json.Compact(&buf, p); err != nil {
			return nil, fmt.Errorf("encoding JSON patch: %w", err)
		}
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
