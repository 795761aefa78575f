package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

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

// Read splits r into documents: a JSON stream (one or more JSON objects)
// when the first non-blank character is '{', multi-document YAML otherwise.
// Empty documents (nothing but blanks and comments) are skipped. Every
// document must be an object; anything else is an *Error naming source, the
// document and its line.
func Read(r io.Reader, source string) ([]Document, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, &Error{Source: source, Err: err}
	}
	if len(data) > maxInput {
		return nil, &Error{Source: source, Err: fmt.Errorf("input larger than %d MiB", maxInput>>20)}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // UTF-8 byte order mark
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return readJSON(data, source)
	}
	return readYAML(data, source)
}

func readJSON(data []byte, source string) ([]Document, error) {
	var docs []Document
	dec := json.NewDecoder(bytes.NewReader(data))
	for n := 1; ; n++ {
		line := lineAt(data, skipBlank(data, dec.InputOffset()))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return nil, &Error{Source: source, Document: n, Line: line, Err: fmt.Errorf("invalid JSON: %w", err)}
		}
		obj, err := checkObject(raw)
		if err != nil {
			return nil, &Error{Source: source, Document: n, Line: line, Err: err}
		}
		docs = append(docs, Document{Source: source, Index: n, Line: line, JSON: obj})
	}
}

func readYAML(data []byte, source string) ([]Document, error) {
	var docs []Document
	for _, c := range splitYAML(data) {
		j, err := yaml.YAMLToJSONStrict(c.text)
		if err != nil {
			return nil, &Error{Source: source, Document: len(docs) + 1, Line: c.line, Err: fmt.Errorf("invalid YAML: %w", err)}
		}
		if bytes.Equal(bytes.TrimSpace(j), []byte("null")) {
			continue // only blanks and comments
		}
		obj, err := checkObject(j)
		if err != nil {
			return nil, &Error{Source: source, Document: len(docs) + 1, Line: c.line, Err: err}
		}
		docs = append(docs, Document{Source: source, Index: len(docs) + 1, Line: c.line, JSON: obj})
	}
	return docs, nil
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

type chunk struct {
	text []byte
	line int // first line with content, 1-based
}

// splitYAML splits a YAML stream at document separators: lines that start
// with "---" followed by a blank or the end of the line. Whatever follows the
// separator on its line belongs to the next document. A "..." line ends a
// document.
func splitYAML(data []byte) []chunk {
	var (
		out   []chunk
		cur   bytes.Buffer
		first int
	)
	flush := func() {
		out = append(out, chunk{text: append([]byte(nil), cur.Bytes()...), line: first})
		cur.Reset()
		first = 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), maxInput+1)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if isSeparator(line, "---") {
			flush()
			line = strings.TrimSpace(line[3:])
		} else if isSeparator(line, "...") {
			flush()
			continue
		}
		if first == 0 && hasContent(line) {
			first = n
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
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

func skipBlank(data []byte, off int64) int64 {
	for off < int64(len(data)) && strings.IndexByte(" \t\r\n", data[off]) >= 0 {
		off++
	}
	return off
}

func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
