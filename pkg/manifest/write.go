package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// WriteYAML renders the documents as one YAML stream, in order, separated by
// "---" lines. Keys come out sorted and comments are not kept; values come
// out as they went in, numbers with their own text (1.0 stays 1.0, an
// integer of any size stays itself).
func WriteYAML(docs [][]byte) ([]byte, error) {
	var buf bytes.Buffer
	for i, d := range docs {
		// Re-encode through encoding/json first: JSON from a file may hold
		// escapes (such as "\/") that the YAML parser below reads differently.
		obj, err := decodeObject(d)
		if err != nil {
			return nil, err
		}
		// The YAML encoder writes numbers as float64 or int64 values:
		// every other number goes through as a placeholder string, put
		// back as its own text afterwards.
		nums := &numberTokens{prefix: tokenPrefix(d)}
		j, err := json.Marshal(nums.protect(obj))
		if err != nil {
			return nil, err
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			return nil, fmt.Errorf("converting to YAML: %w", err)
		}
		for i, text := range nums.texts {
			y = bytes.Replace(y, []byte(nums.token(i)), []byte(text), 1)
		}
		if i > 0 {
			buf.WriteString("---\n")
		}
		buf.Write(y)
	}
	return buf.Bytes(), nil
}

// numberTokens swaps numbers for placeholder strings and remembers them.
type numberTokens struct {
	prefix string
	texts  []string
}

func (n *numberTokens) token(i int) string { return fmt.Sprintf("%s%dz", n.prefix, i) }

// protect replaces, in v, every number the YAML encoder would not write as it
// is by a placeholder.
func (n *numberTokens) protect(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = n.protect(e)
		}
	case []any:
		for i, e := range x {
			x[i] = n.protect(e)
		}
	case json.Number:
		if _, err := strconv.ParseInt(string(x), 10, 64); err == nil && (x == "0" || !strings.HasPrefix(strings.TrimPrefix(string(x), "-"), "0")) && x != "-0" {
			return x
		}
		n.texts = append(n.texts, string(x))
		return n.token(len(n.texts) - 1)
	}
	return v
}

// tokenPrefix returns a placeholder prefix that does not occur in doc, so a
// placeholder can only stand for the number it replaced. The placeholders
// are plain YAML strings (letters and digits), written without quotes.
func tokenPrefix(doc []byte) string {
	for i := 0; ; i++ {
		p := fmt.Sprintf("sdnum%dn", i)
		if !bytes.Contains(doc, []byte(p)) {
			return p
		}
	}
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
