package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	yamlv3 "go.yaml.in/yaml/v3"
)

// Preserve renders the file with every result applied to the document's own
// text: what the rules set is added, and nothing else changes. New keys go at
// the end of their mapping and new items at the end of their list, in the
// document's own indentation (and its style of "- " lists, indented under
// their key or not); JSON documents stay JSON; documents without changes, the
// separators and the comments between documents are written back byte for
// byte.
//
// results holds one Result per document of f, in order. A document whose
// additions cannot be written into its text safely is written normalised
// instead (as WriteYAML does, or as indented JSON for a JSON document), and a
// note says so: a patch that would edit a value shared through a YAML anchor
// or alias, or reached through a merge key, and any edit whose text would not
// read back as the mutated document.
func (f *File) Preserve(results []Result) (out []byte, notes []string, err error) {
	if len(results) != len(f.Documents) {
		return nil, nil, fmt.Errorf("internal error: %d results for %d documents", len(results), len(f.Documents))
	}
	var buf bytes.Buffer
	prev := 0
	for i, d := range f.Documents {
		r := results[i]
		if string(r.Patch) == "[]" {
			continue
		}
		text, err := editDocument(f.Data[d.start:d.end], d, r)
		if err != nil {
			// Whatever kept the additions out of the text (an anchor, or
			// a structure the YAML 1.2 parser sees otherwise than kubectl's
			// YAML 1.1 reader), the normalised document is always right.
			edit := err
			if text, err = normalised(f.Data[d.start:d.end], d, r); err != nil {
				return nil, nil, d.fail(err)
			}
			notes = append(notes, fmt.Sprintf("%s: document %d (line %d): written normalised, without its comments and layout: %v", d.Source, d.Index, d.Line, edit))
		}
		buf.Write(f.Data[prev:d.start])
		buf.Write(text)
		prev = d.end
	}
	buf.Write(f.Data[prev:])
	return buf.Bytes(), notes, nil
}

// unsupported says why a document's additions cannot be written into its
// text; the document is then written normalised.
func unsupported(format string, a ...any) error {
	return fmt.Errorf(format, a...)
}

// normalised renders the mutated document as the normalised writer does, in
// place of the document's text.
func normalised(orig []byte, d Document, r Result) ([]byte, error) {
	if d.isJSON {
		var b bytes.Buffer
		if err := json.Indent(&b, r.JSON, "", "  "); err != nil {
			return nil, err
		}
		return b.Bytes(), nil
	}
	y, err := WriteYAML([][]byte{r.JSON})
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(orig, []byte("---")) { // the span starts on its separator line
		y = append([]byte("---\n"), y...)
	}
	return y, nil
}

// patchOp is one operation of a JSON patch made by Mutate.
type patchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value"`
}

// editDocument returns the text of a document with its result's patch
// written into it, or an error that says why the text cannot hold the
// additions safely.
func editDocument(text []byte, d Document, r Result) ([]byte, error) {
	var ops []patchOp
	if err := json.Unmarshal(r.Patch, &ops); err != nil {
		return nil, fmt.Errorf("decoding JSON patch: %w", err)
	}
	ed, err := newEditor(text, d)
	if err != nil {
		return nil, err
	}
	for _, op := range ops {
		if err := ed.apply(op); err != nil {
			return nil, err
		}
	}
	out, err := ed.render()
	if err != nil {
		return nil, err
	}
	// The edited text must read back as exactly the mutated document.
	var back []byte
	if d.isJSON {
		back, err = jsonObject(bytes.TrimSpace(out))
	} else {
		back, err = yamlObject(chunk{start: 0, end: len(out), separator: bytes.HasPrefix(out, []byte("---"))}.parseText(out))
	}
	if err != nil {
		return nil, unsupported("the edited text does not read back: %v", err)
	}
	same, err := sameJSONValue(back, r.JSON)
	if err != nil {
		return nil, err
	}
	if !same {
		return nil, unsupported("the edited text does not read back as the mutated document")
	}
	return out, nil
}

// sameJSONValue reports whether a and b hold the same JSON value, numbers
// compared by their text.
func sameJSONValue(a, b []byte) (bool, error) {
	decode := func(in []byte) (any, error) {
		d := json.NewDecoder(bytes.NewReader(in))
		d.UseNumber()
		var v any
		return v, d.Decode(&v)
	}
	va, err := decode(a)
	if err != nil {
		return false, err
	}
	vb, err := decode(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(va, vb), nil
}

// editor applies "add" operations to a document's YAML node tree, keeping
// track of which nodes of the text gained children, then renders those
// additions into the text.
type editor struct {
	text   []byte
	isJSON bool
	nl     string // the text's line ending
	lines  []int  // offset of the start of each line
	root   *yamlv3.Node
	// next is, for each node of the text, the line where the next node not
	// inside it starts (or the line after the last).
	next map[*yamlv3.Node]int
	// depth is each node's depth in the tree.
	depth map[*yamlv3.Node]int
	// fresh marks the nodes the patch added; everything inside them is new.
	fresh map[*yamlv3.Node]bool
	// grown lists the collections of the text that gained children, with
	// their number of children before.
	grown    []*yamlv3.Node
	grownLen map[*yamlv3.Node]int
	// filled lists the mapping keys of the text whose empty (null) value the
	// patch replaced by a new value.
	filled []*yamlv3.Node
	// style of the document's block collections.
	step, seqOffset int
	// style of its flow collections: separators, and for a JSON document
	// written one member a line, the indentation unit.
	colon, comma string
	unit         string
}

func newEditor(text []byte, d Document) (*editor, error) {
	ed := &editor{
		text: text, isJSON: d.isJSON, nl: "\n",
		next: map[*yamlv3.Node]int{}, depth: map[*yamlv3.Node]int{}, fresh: map[*yamlv3.Node]bool{}, grownLen: map[*yamlv3.Node]int{},
		step: 2,
	}
	if bytes.Contains(text, []byte("\r\n")) {
		ed.nl = "\r\n"
	}
	if oddLineBreak(text) {
		// The YAML parser counts these as line breaks and the positions it
		// gives would not match the lines counted here.
		return nil, unsupported("it has line breaks other than LF and CRLF (a lone CR, NEL, LS or PS)")
	}
	ed.lines = append(ed.lines, 0)
	for i, c := range text {
		if c == '\n' {
			ed.lines = append(ed.lines, i+1)
		}
	}
	var parse []byte
	if d.isJSON {
		parse = yamlSafeJSON(text)
	} else {
		parse = chunk{end: len(text), separator: bytes.HasPrefix(text, []byte("---"))}.parseText(text)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(parse, &doc); err != nil {
		return nil, unsupported("the document's structure cannot be located: %v", err)
	}
	if doc.Kind != yamlv3.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yamlv3.MappingNode {
		return nil, unsupported("the document is not a plain mapping")
	}
	ed.root = doc.Content[0]
	ed.colon, ed.comma = ": ", ", "
	if d.isJSON && !bytes.Contains(text, []byte(`": `)) {
		ed.colon, ed.comma = ":", ","
	}
	if d.isJSON {
		if multi, _, unit, err := ed.flowLayout(ed.root); err == nil && multi {
			ed.unit = unit
		}
	}
	ed.index(ed.root, len(ed.lines)+1, 0)
	ed.detectStyle(ed.root)
	return ed, nil
}

// oddLineBreak reports whether text holds a character the YAML parser reads
// as a line break other than LF and CRLF.
func oddLineBreak(text []byte) bool {
	if bytes.Count(text, []byte("\r")) != bytes.Count(text, []byte("\r\n")) {
		return true
	}
	return bytes.Contains(text, []byte("\u0085")) || bytes.Contains(text, []byte("\u2028")) || bytes.Contains(text, []byte("\u2029"))
}

// yamlSafeJSON returns JSON text the YAML parser reads with the same
// structure and positions: the JSON escape "\/", unknown to YAML, becomes
// "\\" (the same length; only the value of that string changes, which the
// read-back check would catch should it matter).
func yamlSafeJSON(text []byte) []byte {
	if !bytes.Contains(text, []byte(`\/`)) {
		return text
	}
	out := append([]byte(nil), text...)
	inString := false
	for i := 0; i < len(out); i++ {
		switch {
		case out[i] == '"':
			inString = !inString
		case inString && out[i] == '\\' && i+1 < len(out):
			if out[i+1] == '/' {
				out[i+1] = '\\'
			}
			i++
		}
	}
	return out
}

// index records, for n and every node inside it, the line where the next
// node after it starts.
func (ed *editor) index(n *yamlv3.Node, next, depth int) {
	ed.next[n], ed.depth[n] = next, depth
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			b := next
			if i+2 < len(n.Content) {
				b = n.Content[i+2].Line
			}
			ed.next[n.Content[i]] = n.Content[i+1].Line
			ed.index(n.Content[i+1], b, depth+1)
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			b := next
			if i+1 < len(n.Content) {
				b = n.Content[i+1].Line
			}
			ed.index(c, b, depth+1)
		}
	}
}

// detectStyle finds how the text under root indents a block mapping under
// its key, and a block list under its key (some write "- " under the key's
// first letter, some indent it), and sets what it finds: first the whole
// document's style, then, before writing into a collection, the style of
// that collection's own text where it shows one (files mix styles).
func (ed *editor) detectStyle(root *yamlv3.Node) {
	foundMap, foundSeq := false, false
	var walk func(n *yamlv3.Node)
	walk = func(n *yamlv3.Node) {
		if (foundMap && foundSeq) || ed.fresh[n] {
			return
		}
		for i := 0; n.Kind == yamlv3.MappingNode && i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if ed.fresh[v] || v.Style&yamlv3.FlowStyle != 0 || len(v.Content) == 0 || v.Line <= k.Line {
				continue
			}
			switch v.Kind {
			case yamlv3.MappingNode:
				if d := v.Content[0].Column - k.Column; !foundMap && d > 0 {
					ed.step, foundMap = d, true
				}
			case yamlv3.SequenceNode:
				if d := v.Column - k.Column; !foundSeq && d >= 0 {
					ed.seqOffset, foundSeq = d, true
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
}

func (ed *editor) apply(op patchOp) error {
	if op.Op != "add" {
		return unsupported("the patch holds a %q operation", op.Op)
	}
	if op.Path == "" {
		return unsupported("the patch replaces the whole document")
	}
	var vdoc yamlv3.Node
	if err := yamlv3.Unmarshal(op.Value, &vdoc); err != nil || len(vdoc.Content) != 1 {
		return fmt.Errorf("internal error: patch value %s: %v", op.Value, err)
	}
	value := vdoc.Content[0]
	tokens := splitPointer(op.Path)
	cur, inFresh := ed.root, false
	for _, tok := range tokens[:len(tokens)-1] {
		if !inFresh {
			if err := ed.editable(cur, op.Path); err != nil {
				return err
			}
		}
		switch cur.Kind {
		case yamlv3.MappingNode:
			i := findKey(cur, tok)
			if i < 0 {
				if hasMerge(cur) {
					return unsupported("%s is reached through a YAML merge key (<<)", op.Path)
				}
				return fmt.Errorf("internal error: %s: %q not found", op.Path, tok)
			}
			cur = cur.Content[i+1]
		case yamlv3.SequenceNode:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(cur.Content) {
				return fmt.Errorf("internal error: %s: no item %q", op.Path, tok)
			}
			cur = cur.Content[n]
		case yamlv3.AliasNode:
			return unsupported("%s goes through a YAML alias", op.Path)
		default:
			return fmt.Errorf("internal error: %s: %q is inside a scalar", op.Path, tok)
		}
		inFresh = inFresh || ed.fresh[cur]
	}
	if !inFresh {
		if err := ed.editable(cur, op.Path); err != nil {
			return err
		}
	}
	last := tokens[len(tokens)-1]
	ed.fresh[value] = true
	switch cur.Kind {
	case yamlv3.MappingNode:
		if i := findKey(cur, last); i >= 0 {
			old := cur.Content[i+1]
			if !inFresh && old.Kind == value.Kind && len(old.Content) == 0 && old.Anchor == "" &&
				(old.Kind == yamlv3.MappingNode || old.Kind == yamlv3.SequenceNode) {
				// An empty {} or [] that the patch replaces (the typed pod
				// omits empty collections): the same as filling it.
				ed.grow(old, false)
				for j, c := range value.Content {
					if old.Kind == yamlv3.SequenceNode || j%2 == 1 {
						ed.fresh[c] = true
					}
				}
				old.Content = append(old.Content, value.Content...)
				return nil
			}
			if !inFresh && !(isEmptyNull(old) && cur.Style&yamlv3.FlowStyle == 0) {
				return unsupported("%s replaces a value of the document", op.Path)
			}
			cur.Content[i+1] = value
			if !inFresh {
				ed.filled = append(ed.filled, cur.Content[i])
			}
			return nil
		}
		ed.grow(cur, inFresh)
		cur.Content = append(cur.Content, &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: last}, value)
	case yamlv3.SequenceNode:
		if n, err := strconv.Atoi(last); last != "-" && (err != nil || n != len(cur.Content)) {
			return unsupported("%s inserts an item inside a list", op.Path)
		}
		ed.grow(cur, inFresh)
		cur.Content = append(cur.Content, value)
	default:
		return unsupported("%s adds to a value that is not a mapping or a list", op.Path)
	}
	return nil
}

// editable refuses to edit through a node that other places of the
// document share (an anchor) or that stands for another (an alias).
func (ed *editor) editable(n *yamlv3.Node, path string) error {
	if n.Kind == yamlv3.AliasNode {
		return unsupported("%s goes through a YAML alias (*%s)", path, n.Value)
	}
	if n.Anchor != "" {
		return unsupported("%s goes through a YAML anchor (&%s) that other places may share", path, n.Anchor)
	}
	return nil
}

func (ed *editor) grow(n *yamlv3.Node, inFresh bool) {
	if inFresh {
		return
	}
	if _, ok := ed.grownLen[n]; !ok {
		ed.grownLen[n] = len(n.Content)
		ed.grown = append(ed.grown, n)
	}
}

// original returns the children n had in the text, before the patch.
func (ed *editor) original(n *yamlv3.Node) []*yamlv3.Node {
	if l, ok := ed.grownLen[n]; ok {
		return n.Content[:l]
	}
	return n.Content
}

func findKey(m *yamlv3.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; k.Kind == yamlv3.ScalarNode && k.ShortTag() != "!!merge" && k.Value == key {
			return i
		}
	}
	return -1
}

func hasMerge(m *yamlv3.Node) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].ShortTag() == "!!merge" {
			return true
		}
	}
	return false
}

// isEmptyNull reports a value written as nothing at all ("key:").
func isEmptyNull(n *yamlv3.Node) bool {
	return n.Kind == yamlv3.ScalarNode && n.ShortTag() == "!!null" && n.Value == "" && n.Anchor == ""
}

// insertion is text to insert at an offset of the document's text.
type insertion struct {
	off  int
	text string
	// depth in the tree of the collection that grows: at one offset, the
	// deeper one (the end of an inner collection) goes first.
	depth int
}

func (ed *editor) render() ([]byte, error) {
	var ins []insertion
	for _, k := range ed.filled {
		i, err := ed.fill(k)
		if err != nil {
			return nil, err
		}
		ins = append(ins, i)
	}
	for _, n := range ed.grown {
		var (
			i   insertion
			err error
		)
		if n.Style&yamlv3.FlowStyle != 0 {
			i, err = ed.flowInsertion(n)
		} else {
			i, err = ed.blockInsertion(n)
		}
		if err != nil {
			return nil, err
		}
		ins = append(ins, i)
	}
	// Sorted by offset, insertions at one offset in the order they were
	// made; inserted from the end, so earlier offsets stay valid.
	sortInsertions(ins)
	out := append([]byte(nil), ed.text...)
	for i := len(ins) - 1; i >= 0; i-- {
		out = append(out[:ins[i].off], append([]byte(ins[i].text), out[ins[i].off:]...)...)
	}
	return out, nil
}

func sortInsertions(ins []insertion) {
	// Insertion sort: stable, and there are few.
	for i := 1; i < len(ins); i++ {
		for j := i; j > 0 && (ins[j-1].off > ins[j].off || ins[j-1].off == ins[j].off && ins[j-1].depth < ins[j].depth); j-- {
			ins[j-1], ins[j] = ins[j], ins[j-1]
		}
	}
}

// offset returns the offset of a node's line and column (1-based, columns
// counted in characters).
func (ed *editor) offset(line, col int) (int, error) {
	if line < 1 || line > len(ed.lines) {
		return 0, unsupported("position %d:%d out of the text", line, col)
	}
	off := ed.lines[line-1]
	for c := 1; c < col; c++ {
		if off >= len(ed.text) || ed.text[off] == '\n' {
			return 0, unsupported("position %d:%d out of the text", line, col)
		}
		_, size := utf8.DecodeRune(ed.text[off:])
		off += size
	}
	return off, nil
}

func (ed *editor) line(n int) []byte {
	if n < 1 || n > len(ed.lines) {
		return nil
	}
	end := len(ed.text)
	if n < len(ed.lines) {
		end = ed.lines[n]
	}
	return bytes.TrimRight(ed.text[ed.lines[n-1]:end], "\r\n")
}

// indentOf returns the indentation of a line, and whether the line is blank
// or a comment.
func (ed *editor) indentOf(n int) (indent int, blank, comment bool) {
	l := ed.line(n)
	t := bytes.TrimLeft(l, " ")
	indent = len(l) - len(t)
	t = bytes.TrimLeft(t, "\t")
	return indent, len(bytes.TrimSpace(t)) == 0, bytes.HasPrefix(t, []byte("#"))
}

// lastLine returns the last line of a block node's text. parentIndent is the
// indentation of the collection holding it.
func (ed *editor) lastLine(n *yamlv3.Node, parentIndent int) (int, error) {
	bound := ed.next[n] - 1
	if n.Style&yamlv3.FlowStyle != 0 && (n.Kind == yamlv3.MappingNode || n.Kind == yamlv3.SequenceNode) {
		open, err := ed.offset(n.Line, n.Column)
		if err != nil {
			return 0, err
		}
		end, err := ed.flowEnd(open)
		if err != nil {
			return 0, err
		}
		return lineAt(ed.text, end), nil
	}
	content := ed.original(n)
	switch n.Kind {
	case yamlv3.MappingNode:
		if len(content) < 2 {
			return n.Line, nil
		}
		k, v := content[len(content)-2], content[len(content)-1]
		if isEmptyNull(v) || ed.fresh[v] {
			return k.Line, nil
		}
		return ed.lastLine(v, content[0].Column-1)
	case yamlv3.SequenceNode:
		if len(content) == 0 {
			return n.Line, nil
		}
		return ed.lastLine(content[len(content)-1], n.Column-1)
	case yamlv3.ScalarNode:
		switch {
		case n.Style&(yamlv3.LiteralStyle|yamlv3.FoldedStyle) != 0:
			end, content := n.Line, -1
			for l := n.Line + 1; l <= bound; l++ {
				indent, blank, _ := ed.indentOf(l)
				if blank {
					continue
				}
				if content < 0 {
					if indent <= parentIndent {
						break
					}
					content = indent
				}
				if indent < content {
					break
				}
				end = l
			}
			return end, nil
		case n.Style&(yamlv3.DoubleQuotedStyle|yamlv3.SingleQuotedStyle) != 0:
			start, err := ed.offset(n.Line, n.Column)
			if err != nil {
				return 0, err
			}
			end, err := quotedEnd(ed.text, start)
			if err != nil {
				return 0, err
			}
			return lineAt(ed.text, end), nil
		default:
			end := n.Line
			for l := n.Line + 1; l <= bound; l++ {
				indent, blank, comment := ed.indentOf(l)
				if blank {
					continue
				}
				if comment || indent <= parentIndent {
					break
				}
				end = l
			}
			return end, nil
		}
	}
	return n.Line, nil
}

// blockInsertion writes the new children of a block mapping or list after
// its last line (and the comments indented like its content that follow).
func (ed *editor) blockInsertion(n *yamlv3.Node) (insertion, error) {
	orig := ed.grownLen[n]
	if orig == 0 {
		return insertion{}, unsupported("an empty block collection")
	}
	indent := n.Column - 1
	if n.Kind == yamlv3.MappingNode {
		indent = n.Content[0].Column - 1
	}
	end, err := ed.lastLine(n, indent)
	if err != nil {
		return insertion{}, err
	}
	// Comments right below, indented like the content, belong to it; a
	// blank line or anything less indented ends it.
	for l := end + 1; l < ed.next[n]; l++ {
		if i, blank, comment := ed.indentOf(l); blank || !comment || i < indent {
			break
		}
		end = l
	}
	step, seqOffset := ed.step, ed.seqOffset
	defer func() { ed.step, ed.seqOffset = step, seqOffset }()
	ed.detectStyle(n)
	var b strings.Builder
	if n.Kind == yamlv3.MappingNode {
		ed.blockPairs(&b, n.Content[orig:], indent)
	} else {
		ed.blockItems(&b, n.Content[orig:], indent)
	}
	i := ed.afterLine(end, b.String())
	i.depth = ed.depth[n]
	return i, nil
}

// fill writes a new value under a key that had none ("key:").
func (ed *editor) fill(k *yamlv3.Node) (insertion, error) {
	indent := k.Column - 1
	var b strings.Builder
	v := ed.valueOf(k)
	if v == nil {
		return insertion{}, fmt.Errorf("internal error: filled key %q not found", k.Value)
	}
	ed.blockValue(&b, v, indent)
	text := strings.TrimSuffix(b.String(), "\n")
	if text[0] == ' ' {
		// A scalar or an empty collection: right after the colon, before
		// any comment on the key's line.
		colon, err := ed.colonAfter(k)
		if err != nil {
			return insertion{}, err
		}
		return insertion{off: colon + 1, text: text}, nil
	}
	// A block collection: on the lines below the key.
	end := len(ed.text)
	if k.Line < len(ed.lines) {
		end = ed.lines[k.Line] - 1
		if end > 0 && ed.text[end-1] == '\r' {
			end--
		}
	}
	return insertion{off: end, text: strings.ReplaceAll(text, "\n", ed.nl)}, nil
}

// colonAfter returns the offset of the colon that follows a block mapping key.
func (ed *editor) colonAfter(k *yamlv3.Node) (int, error) {
	off, err := ed.offset(k.Line, k.Column)
	if err != nil {
		return 0, err
	}
	switch {
	case k.Style&(yamlv3.DoubleQuotedStyle|yamlv3.SingleQuotedStyle) != 0:
		if off, err = quotedEnd(ed.text, off); err != nil {
			return 0, err
		}
		off++
	case k.Style == 0 && bytes.HasPrefix(ed.text[off:], []byte(k.Value)):
		off += len(k.Value)
	default:
		return 0, unsupported("key %q written in a style this writer does not edit after", k.Value)
	}
	for off < len(ed.text) && (ed.text[off] == ' ' || ed.text[off] == '\t') {
		off++
	}
	if off >= len(ed.text) || ed.text[off] != ':' {
		return 0, unsupported("no colon after key %q", k.Value)
	}
	return off, nil
}

// valueOf finds the value of key node k in the (edited) tree.
func (ed *editor) valueOf(k *yamlv3.Node) *yamlv3.Node {
	var find func(n *yamlv3.Node) *yamlv3.Node
	find = func(n *yamlv3.Node) *yamlv3.Node {
		if ed.fresh[n] {
			return nil
		}
		for i, c := range n.Content {
			if c == k && n.Kind == yamlv3.MappingNode && i+1 < len(n.Content) {
				return n.Content[i+1]
			}
			if r := find(c); r != nil {
				return r
			}
		}
		return nil
	}
	return find(ed.root)
}

// afterLine returns the insertion of text (lines ending in "\n") after line
// n of the document.
func (ed *editor) afterLine(n int, text string) insertion {
	text = strings.ReplaceAll(text, "\n", ed.nl)
	if n < len(ed.lines) {
		return insertion{off: ed.lines[n], text: text}
	}
	// The last line has no line ending.
	return insertion{off: len(ed.text), text: ed.nl + strings.TrimSuffix(text, ed.nl)}
}

func (ed *editor) blockPairs(b *strings.Builder, pairs []*yamlv3.Node, indent int) {
	for i := 0; i+1 < len(pairs); i += 2 {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString(scalarText(pairs[i], false, ed.isJSON))
		b.WriteString(":")
		ed.blockValue(b, pairs[i+1], indent)
	}
}

// blockValue writes the value of a key at indent, from just after the colon.
func (ed *editor) blockValue(b *strings.Builder, v *yamlv3.Node, indent int) {
	switch {
	case v.Kind == yamlv3.MappingNode && len(v.Content) > 0:
		b.WriteString("\n")
		ed.blockPairs(b, v.Content, indent+ed.step)
	case v.Kind == yamlv3.SequenceNode && len(v.Content) > 0:
		b.WriteString("\n")
		ed.blockItems(b, v.Content, indent+ed.seqOffset)
	default:
		b.WriteString(" ")
		b.WriteString(ed.blockScalar(v))
		b.WriteString("\n")
	}
}

func (ed *editor) blockItems(b *strings.Builder, items []*yamlv3.Node, indent int) {
	for _, v := range items {
		b.WriteString(strings.Repeat(" ", indent))
		b.WriteString("-")
		switch {
		case v.Kind == yamlv3.MappingNode && len(v.Content) > 0:
			var m strings.Builder
			ed.blockPairs(&m, v.Content, indent+2)
			b.WriteString(" ")
			b.WriteString(strings.TrimLeft(m.String(), " "))
		case v.Kind == yamlv3.SequenceNode && len(v.Content) > 0:
			b.WriteString("\n")
			ed.blockItems(b, v.Content, indent+2)
		default:
			b.WriteString(" ")
			b.WriteString(ed.blockScalar(v))
			b.WriteString("\n")
		}
	}
}

// blockScalar renders a scalar or an empty collection in block context.
func (ed *editor) blockScalar(v *yamlv3.Node) string {
	if v.Kind == yamlv3.ScalarNode {
		return scalarText(v, false, ed.isJSON)
	}
	return ed.flowText(v, "", "", false)
}

// flowInsertion writes the new children of a flow mapping or list (JSON
// included) before its closing bracket, in the collection's own layout: one
// child a line, or all on one line.
func (ed *editor) flowInsertion(n *yamlv3.Node) (insertion, error) {
	orig := ed.grownLen[n]
	open, err := ed.offset(n.Line, n.Column)
	if err != nil {
		return insertion{}, err
	}
	end, err := ed.flowEnd(open)
	if err != nil {
		return insertion{}, err
	}
	at := end
	for at > open+1 && strings.IndexByte(" \t\r\n", ed.text[at-1]) >= 0 {
		at--
	}
	trailingComma := ed.text[at-1] == ','
	colon, comma := ed.colon, ed.comma
	multi, prefix, unit, err := ed.flowLayout(n)
	if err != nil {
		return insertion{}, err
	}
	openIndent := string(leadingBlanks(ed.line(n.Line)))
	if orig == 0 && ed.unit != "" {
		// An empty object or list of a JSON document written one member a
		// line gets its members one a line too.
		multi, prefix, unit = true, openIndent+ed.unit, ed.unit
	}
	var b strings.Builder
	step := 1
	if n.Kind == yamlv3.MappingNode {
		step = 2
	}
	for i := orig; i < len(n.Content); i += step {
		switch {
		case multi:
			if i > 0 && !(i == orig && trailingComma) {
				b.WriteString(",")
			}
			b.WriteString(ed.nl)
			b.WriteString(prefix)
		case i > 0:
			if i == orig && trailingComma {
				b.WriteString(" ")
			} else {
				b.WriteString(comma)
			}
		}
		if n.Kind == yamlv3.MappingNode {
			b.WriteString(scalarText(n.Content[i], true, ed.isJSON))
			b.WriteString(colon)
			b.WriteString(ed.flowText(n.Content[i+1], prefix, unit, multi && ed.isJSON))
		} else {
			b.WriteString(ed.flowText(n.Content[i], prefix, unit, multi && ed.isJSON))
		}
	}
	if multi && orig == 0 {
		b.WriteString(ed.nl)
		b.WriteString(openIndent)
	}
	return insertion{off: at, text: b.String()}, nil
}

// flowLayout says whether a flow collection of the text is written one child
// a line, and then the blanks before each child and the indentation unit.
func (ed *editor) flowLayout(n *yamlv3.Node) (multi bool, prefix, unit string, err error) {
	orig := ed.original(n)
	if len(orig) == 0 {
		return false, "", "", nil
	}
	first := orig[0]
	fo, err := ed.offset(first.Line, first.Column)
	if err != nil {
		return false, "", "", err
	}
	start := ed.lines[first.Line-1]
	if first.Line == n.Line || len(bytes.TrimLeft(ed.text[start:fo], " \t")) != 0 {
		return false, "", "", nil
	}
	prefix, unit = string(ed.text[start:fo]), "  "
	if u, ok := strings.CutPrefix(prefix, string(leadingBlanks(ed.line(n.Line)))); ok && u != "" {
		unit = u
	}
	return true, prefix, unit, nil
}

func leadingBlanks(line []byte) []byte {
	return line[:len(line)-len(bytes.TrimLeft(line, " \t"))]
}

// flowText renders a value in flow style (JSON in a JSON document); with
// multi, one child a line, indented by prefix plus unit.
func (ed *editor) flowText(v *yamlv3.Node, prefix, unit string, multi bool) string {
	colon, comma := ed.colon, ed.comma
	open, close, step := "{", "}", 2
	switch v.Kind {
	case yamlv3.ScalarNode:
		return scalarText(v, true, ed.isJSON)
	case yamlv3.SequenceNode:
		open, close, step = "[", "]", 1
	case yamlv3.MappingNode:
	default:
		return "null"
	}
	if len(v.Content) == 0 {
		return open + close
	}
	var b strings.Builder
	b.WriteString(open)
	inner := prefix + unit
	for i := 0; i < len(v.Content); i += step {
		if multi {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(ed.nl)
			b.WriteString(inner)
		} else if i > 0 {
			b.WriteString(comma)
		}
		c := v.Content[i]
		if step == 2 {
			b.WriteString(scalarText(c, true, ed.isJSON))
			b.WriteString(colon)
			c = v.Content[i+1]
		}
		b.WriteString(ed.flowText(c, inner, unit, multi))
	}
	if multi {
		b.WriteString(ed.nl)
		b.WriteString(prefix)
	}
	b.WriteString(close)
	return b.String()
}

// scalarText renders a scalar the patch added: numbers, booleans and null as
// they are; a string plain where every YAML reader takes it for that string,
// double-quoted (JSON style) otherwise, and always in a JSON document.
func scalarText(v *yamlv3.Node, flow, isJSON bool) string {
	if v.ShortTag() != "!!str" {
		return v.Value
	}
	s := v.Value
	if !isJSON && s != "" {
		if out, err := yamlv3.Marshal(s); err == nil && string(out) == s+"\n" &&
			(!flow || !strings.ContainsAny(s, ",[]{}#&*!|>'\"%@`")) {
			return s
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// flowEnd returns the offset of the bracket that closes the flow collection
// opened at open.
func (ed *editor) flowEnd(open int) (int, error) {
	t := ed.text
	if open >= len(t) || (t[open] != '{' && t[open] != '[') {
		return 0, unsupported("no flow collection at offset %d", open)
	}
	depth := 0
	prev := byte(' ') // last non-blank byte before i
	for i := open; i < len(t); i++ {
		c := t[i]
		switch {
		case (c == '"' || c == '\'') && strings.IndexByte("{[,:?", prev) >= 0:
			end, err := quotedEnd(t, i)
			if err != nil {
				return 0, err
			}
			i = end
		case c == '#' && (i == 0 || strings.IndexByte(" \t\r\n", t[i-1]) >= 0):
			for i < len(t) && t[i] != '\n' {
				i++
			}
			continue
		case c == '{' || c == '[':
			depth++
		case c == '}' || c == ']':
			depth--
			if depth == 0 {
				return i, nil
			}
		}
		if strings.IndexByte(" \t\r\n", c) < 0 {
			prev = c
		}
	}
	return 0, unsupported("unclosed flow collection")
}

// quotedEnd returns the offset of the quote that closes the quoted scalar
// starting at start.
func quotedEnd(t []byte, start int) (int, error) {
	q := t[start]
	for i := start + 1; i < len(t); i++ {
		switch {
		case q == '"' && t[i] == '\\':
			i++
		case t[i] == q && q == '\'' && i+1 < len(t) && t[i+1] == '\'':
			i++
		case t[i] == q:
			return i, nil
		}
	}
	return 0, unsupported("unclosed quoted string")
}
