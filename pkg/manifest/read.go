package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// maxInput bounds what one source may hold, so a runaway pipe cannot exhaust
// memory; real manifests are far smaller.
const maxInput = 64 << 20

// Document is one object read from a manifest source.
type Document struct {
	// Source names where the document came from (a file name, or "<stdin>").
	Source string
	// Index is the 1-based position of the document among the non-empty
	// documents of its source.
	Index int
	// Line is the 1-based line of the source where the document starts.
	Line int
	// JSON is the document as a JSON object.
	JSON []byte

	// start and end delimit the document's text in its File's Data. A YAML
	// document's text starts at the beginning of a line (the separator line
	// itself when content follows "---" on it); a JSON document's text
	// starts at the beginning of its first line when only blanks precede it.
	start, end int
	// isJSON says the document is written in JSON syntax.
	isJSON bool
}

// File is a manifest source as read: its bytes and the documents in them.
type File struct {
	// Source names where the bytes came from.
	Source string
	// Data is the source's content, unchanged.
	Data []byte
	// Documents lists the non-empty documents, in order.
	Documents []Document
}

// Error is a problem with one document of a source, or with the source as a
// whole when Document is 0.
type Error struct {
	Source   string
	Document int
	Line     int
	Err      error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Document > 0 {
		fmt.Fprintf(&b, ": document %d", e.Document)
		if e.Line > 0 {
			fmt.Fprintf(&b, " (line %d)", e.Line)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Read splits r into documents; see ReadFile.
func Read(r io.Reader, source string) ([]Document, error) {
	f, err := ReadFile(r, source)
	if err != nil {
		return nil, err
	}
	return f.Documents, nil
}

// ReadFile reads a manifest source the way kubectl does: JSON objects as
// long as the stream holds JSON, then multi-document YAML for the rest (so a
// JSON object may be followed by "---" and YAML, and a document that starts
// with "{" but is not JSON is read as YAML flow style). A YAML document that
// is one JSON object is read as JSON. Empty documents (nothing but blanks and
// comments) are skipped.
//
// YAML is read with kubectl's YAML 1.1 reader (anchors, aliases, merge keys
// whose explicit keys override the merged ones, yes/no booleans). A key
// given twice in one mapping or object is refused, naming the key: the API
// server would keep the last one (or refuse the request under strict field
// validation), and a silent choice could turn a user's false into our true.
// Every document must be an object; anything else is an *Error naming
// source, the document and its line.
func ReadFile(r io.Reader, source string) (*File, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, &Error{Source: source, Err: err}
	}
	if len(data) > maxInput {
		return nil, &Error{Source: source, Err: fmt.Errorf("input larger than %d MiB", maxInput>>20)}
	}
	f := &File{Source: source, Data: data}
	pos := 0
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) { // UTF-8 byte order mark
		pos = 3
	}
	lines := lineCounter{data: data, line: 1}
	for {
		p := skipBlank(data, pos)
		if p == len(data) {
			return f, nil
		}
		if data[p] != '{' && data[p] != '[' {
			break
		}
		dec := json.NewDecoder(bytes.NewReader(data[p:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			break // not JSON: YAML from here on, as kubectl reads it
		}
		end := p + int(dec.InputOffset())
		d := Document{Source: source, Index: len(f.Documents) + 1, Line: lines.at(p), isJSON: true, start: lineStartIfBlank(data, pos, p), end: end}
		if d.JSON, err = jsonObject(raw); err != nil {
			return nil, d.fail(err)
		}
		f.Documents = append(f.Documents, d)
		pos = end
	}
	for _, c := range splitYAML(data, pos) {
		d := Document{Source: source, Index: len(f.Documents) + 1, Line: c.line, start: c.start, end: c.end}
		text := data[c.start:c.end]
		if t := bytes.TrimSpace(text); len(t) > 0 && t[0] == '{' && json.Valid(t) {
			// One JSON object between YAML separators: read it as JSON.
			off := bytes.Index(text, t)
			d.isJSON, d.start, d.end = true, lineStartIfBlank(data, c.start, c.start+off), c.start+off+len(t)
			if d.JSON, err = jsonObject(t); err != nil {
				return nil, d.fail(err)
			}
			f.Documents = append(f.Documents, d)
			continue
		}
		j, err := yamlObject(c.parseText(data))
		if err != nil {
			return nil, d.fail(err)
		}
		if j == nil {
			continue // only blanks and comments
		}
		d.JSON = j
		f.Documents = append(f.Documents, d)
	}
	return f, nil
}

func (d Document) fail(err error) error {
	return &Error{Source: d.Source, Document: d.Index, Line: d.Line, Err: err}
}

// jsonObject checks a JSON value read from a source: an object without
// duplicate keys. It returns the value compacted.
func jsonObject(raw []byte) ([]byte, error) {
	obj, err := checkObject(raw)
	if err != nil {
		return nil, err
	}
	if err := duplicateJSONKey(obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// yamlObject converts one YAML document to a JSON object as kubectl does;
// nil for a document of nothing but blanks and comments.
func yamlObject(text []byte) ([]byte, error) {
	var j []byte
	var node yamlv3.Node
	if err := yamlv3.Unmarshal(text, &node); err == nil {
		// The structure is readable: refuse duplicate keys (merge keys
		// apart), then convert with kubectl's own YAML 1.1 reader.
		if err := duplicateYAMLKey(&node, nil); err != nil {
			return nil, err
		}
		if j, err = yaml.YAMLToJSON(text); err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
	} else {
		// The YAML 1.1 reader accepts a few spellings the structural parser
		// refuses; it then also checks duplicate keys itself.
		if j, err = yaml.YAMLToJSONStrict(text); err != nil {
			return nil, fmt.Errorf("invalid YAML: %w", err)
		}
	}
	if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
		return nil, nil
	}
	return checkObject(j)
}

// duplicateYAMLKey reports the first key given twice in one mapping of n.
// Merge keys ("<<") are not duplicates: the keys written beside them
// override what they merge, as YAML means.
func duplicateYAMLKey(n *yamlv3.Node, path []string) error {
	switch n.Kind {
	case yamlv3.DocumentNode:
		for _, c := range n.Content {
			if err := duplicateYAMLKey(c, path); err != nil {
				return err
			}
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			if err := duplicateYAMLKey(c, append(path[:len(path):len(path)], fmt.Sprint(i))); err != nil {
				return err
			}
		}
	case yamlv3.MappingNode:
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yamlv3.ScalarNode || k.ShortTag() == "!!merge" {
				continue
			}
			if seen[k.Value] {
				return fmt.Errorf("key %q given twice in %s (line %d): the API server would keep only one of them; remove the other", k.Value, describePath(path), k.Line)
			}
			seen[k.Value] = true
			if err := duplicateYAMLKey(v, append(path[:len(path):len(path)], k.Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// duplicateJSONKey reports the first key given twice in one object of the
// JSON value b (already known to be valid JSON).
func duplicateJSONKey(b []byte) error {
	return duplicateJSONKeyIn(json.NewDecoder(bytes.NewReader(b)), nil)
}

func duplicateJSONKeyIn(dec *json.Decoder, path []string) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return fmt.Errorf("invalid JSON: %w", err)
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("key %q given twice in %s: the API server would keep only one of them; remove the other", k, describePath(path))
			}
			seen[k] = true
			if err := duplicateJSONKeyIn(dec, append(path[:len(path):len(path)], k)); err != nil {
				return err
			}
		}
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if err := duplicateJSONKeyIn(dec, append(path[:len(path):len(path)], fmt.Sprint(i))); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

func describePath(path []string) string {
	if len(path) == 0 {
		return "the document's top level"
	}
	return pointer(path)
}

// checkObject returns raw, compacted, if it is a JSON object.
func checkObject(raw []byte) ([]byte, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return nil, fmt.Errorf("document is %s, not an object", describeJSON(t))
	}
	var out bytes.Buffer
	if err := json.Compact(&out, t); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return out.Bytes(), nil
}

func describeJSON(t []byte) string {
	switch {
	case len(t) == 0:
		return "empty"
	case t[0] == '[':
		return "an array (a list of objects must be a kind: List with items)"
	case t[0] == '"':
		return "a string"
	case t[0] == 't' || t[0] == 'f':
		return "a boolean"
	case t[0] == 'n':
		return "null"
	default:
		return "a number"
	}
}

// chunk is one YAML document's text in its source.
type chunk struct {
	start, end int // byte offsets in the source
	line       int // first line with content, 1-based, in the source
	separator  bool
}

// parseText returns the chunk's text for the YAML parser: a chunk that
// starts on its separator line ("--- {a: 1}") has the dashes blanked, so
// lines and columns of the text are those of the source.
func (c chunk) parseText(data []byte) []byte {
	text := data[c.start:c.end]
	if !c.separator {
		return text
	}
	t := append([]byte(nil), text...)
	copy(t, "   ")
	return t
}

// splitYAML splits the YAML stream data[from:] at document separators: lines
// that start with "---" followed by a blank or the end of the line. What
// follows the separator on its line belongs to the next document. A "..."
// line ends a document.
func splitYAML(data []byte, from int) []chunk {
	var out []chunk
	cur := chunk{start: from}
	flush := func(end int) {
		cur.end = end
		out = append(out, cur)
	}
	for off, n := from, lineAt(data, from); off < len(data); n++ {
		eol := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if eol >= 0 {
			next = off + eol + 1
		}
		line := string(bytes.TrimRight(data[off:next], "\r\n"))
		switch {
		case isSeparator(line, "---"):
			flush(off)
			cur = chunk{start: next}
			if hasContent(line[3:]) {
				cur = chunk{start: off, separator: true, line: n}
			}
		case isSeparator(line, "..."):
			flush(off)
			cur = chunk{start: next}
		default:
			if cur.line == 0 && hasContent(line) {
				cur.line = n
			}
		}
		off = next
	}
	flush(len(data))
	return out
}

func isSeparator(line, marker string) bool {
	if !strings.HasPrefix(line, marker) {
		return false
	}
	rest := line[len(marker):]
	return rest == "" || rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\r'
}

func hasContent(line string) bool {
	t := strings.TrimSpace(line)
	return t != "" && !strings.HasPrefix(t, "#")
}

func skipBlank(data []byte, off int) int {
	for off < len(data) && strings.IndexByte(" \t\r\n", data[off]) >= 0 {
		off++
	}
	return off
}

// lineStartIfBlank returns the start of the line holding p when only blanks
// precede p on it (and the line starts at or after from), else p.
func lineStartIfBlank(data []byte, from, p int) int {
	s := p
	for s > from && (data[s-1] == ' ' || data[s-1] == '\t') {
		s--
	}
	if s == 0 || data[s-1] == '\n' {
		return s
	}
	return p
}

// lineCounter gives the lines of increasing offsets of data without
// counting from the start each time.
type lineCounter struct {
	data      []byte
	off, line int
}

func (c *lineCounter) at(off int) int {
	c.line += bytes.Count(c.data[c.off:off], []byte("\n"))
	c.off = off
	return c.line
}

func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
