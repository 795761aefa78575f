// Package jsontree walks decoded JSON documents — trees of map[string]any,
// []any, json.Number, string, bool and nil — for the project's tests: the
// rules', the manifest corpus' and the end-to-end suite's checks that nothing
// a user wrote was lost, and their lookups of a pod by JSON pointer.
package jsontree

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
)

// Decode decodes b, keeping numbers as json.Number so they compare exactly.
func Decode(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// Path returns the nodes on the way from doc to the node at the JSON pointer
// (RFC 6901), doc first and that node last.
func Path(doc any, pointer string) ([]any, error) {
	nodes := []any{doc}
	if pointer == "" {
		return nodes, nil
	}
	if !strings.HasPrefix(pointer, "/") {
		return nil, fmt.Errorf("JSON pointer %q does not start with /", pointer)
	}
	cur := doc
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = jsonpointer.Unescape(tok)
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n >= len(c) {
				return nil, fmt.Errorf("JSON pointer %q: no element %q", pointer, tok)
			}
			cur = c[n]
		default:
			return nil, fmt.Errorf("JSON pointer %q: %q is below a %T", pointer, tok, cur)
		}
		nodes = append(nodes, cur)
	}
	return nodes, nil
}

// Lost lists what of before is missing or different in after: a removed key,
// a changed leaf, a changed type, a shrunk array. Arrays may only grow at
// the end. A null in before counts as unset. Values at paths for which skip
// returns true are not compared (skip may be nil).
func Lost(before, after any, skip func(path string) bool) []string {
	return lost("", before, after, skip)
}

func lost(path string, a, b any, skip func(string) bool) []string {
	if a == nil || (skip != nil && skip(path)) {
		return nil
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: object became %T", path, b)}
		}
		var out []string
		for k, v := range av {
			p := path + "/" + k
			w, ok := bv[k]
			if !ok && v != nil {
				out = append(out, p+": removed")
				continue
			}
			out = append(out, lost(p, v, w, skip)...)
		}
		return out
	case []any:
		bv, ok := b.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: array became %T", path, b)}
		}
		if len(bv) < len(av) {
			return []string{path + ": array shrank"}
		}
		var out []string
		for i := range av {
			out = append(out, lost(path+"/"+strconv.Itoa(i), av[i], bv[i], skip)...)
		}
		return out
	default:
		if !reflect.DeepEqual(a, b) {
			return []string{fmt.Sprintf("%s: %v became %v", path, a, b)}
		}
		return nil
	}
}

// Changed lists the JSON pointers at which after differs from before: a leaf
// set, changed or removed. An object or array that appears is descended
// into, so each of its leaves is listed (an empty one is listed itself). A
// null counts as unset.
func Changed(before, after any) []string {
	return changed("", before, after)
}

func changed(path string, a, b any) []string {
	am, aIsMap := a.(map[string]any)
	bm, bIsMap := b.(map[string]any)
	if (aIsMap || a == nil) && (bIsMap || b == nil) && (aIsMap || bIsMap) {
		var out []string
		for k, v := range am {
			out = append(out, changed(path+"/"+jsonpointer.Escape(k), v, bm[k])...)
		}
		for k, v := range bm {
			if _, ok := am[k]; !ok {
				out = append(out, changed(path+"/"+jsonpointer.Escape(k), nil, v)...)
			}
		}
		if len(am) == 0 && len(bm) == 0 && aIsMap != bIsMap {
			out = append(out, path)
		}
		slices.Sort(out)
		return out
	}
	as, aIsList := a.([]any)
	bs, bIsList := b.([]any)
	if (aIsList || a == nil) && (bIsList || b == nil) && (aIsList || bIsList) {
		var out []string
		for i := range max(len(as), len(bs)) {
			var x, y any
			if i < len(as) {
				x = as[i]
			}
			if i < len(bs) {
				y = bs[i]
			}
			out = append(out, changed(path+"/"+strconv.Itoa(i), x, y)...)
		}
		if len(as) == 0 && len(bs) == 0 && aIsList != bIsList {
			out = append(out, path)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{path}
}
