// Command compare checks that two renderings of the deploy manifests (for
// example `helm template` and `kustomize build`) hold the same objects.
//
//	compare [-skip-kind Kind]... LEFT.yaml RIGHT.yaml
//
// Both files are multi-document YAML. Objects are matched by apiVersion, kind,
// namespace and name and compared as data, so key order, comments, quoting and
// document order do not matter. Every difference is printed with its field
// path; the exit status is 1 when there is any, 2 on bad input.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

type kinds []string

func (k *kinds) String() string     { return strings.Join(*k, ",") }
func (k *kinds) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	var skip kinds
	flag.Var(&skip, "skip-kind", "ignore objects of this kind on both sides (repeatable)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: compare [-skip-kind Kind]... LEFT.yaml RIGHT.yaml")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	left, err := load(flag.Arg(0), skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	right, err := load(flag.Arg(1), skip)
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(2)
	}
	diffs := compare(left, right)
	for _, d := range diffs {
		fmt.Println(d)
	}
	if len(diffs) > 0 {
		fmt.Printf("%s and %s differ: %d difference(s)\n", flag.Arg(0), flag.Arg(1), len(diffs))
		os.Exit(1)
	}
	fmt.Printf("%s and %s agree: %d objects\n", flag.Arg(0), flag.Arg(1), len(left))
}

// load reads every object of a multi-document YAML file, keyed by identity.
func load(path string, skip []string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs := map[string]any{}
	for i, doc := range splitDocuments(b) {
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, i+1, err)
		}
		if len(obj) == 0 {
			continue
		}
		kind, _ := obj["kind"].(string)
		if contains(skip, kind) {
			continue
		}
		meta, _ := obj["metadata"].(map[string]any)
		name, _ := meta["name"].(string)
		ns, _ := meta["namespace"].(string)
		if kind == "" || name == "" {
			return nil, fmt.Errorf("%s: document %d has no kind or metadata.name", path, i+1)
		}
		key := fmt.Sprintf("%v %s %s/%s", obj["apiVersion"], kind, ns, name)
		if _, dup := objs[key]; dup {
			return nil, fmt.Errorf("%s: %s appears twice", path, key)
		}
		objs[key] = obj
	}
	return objs, nil
}

func splitDocuments(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	for _, line := range bytes.SplitAfter(b, []byte("\n")) {
		if t := bytes.TrimRight(line, " \t\r\n"); bytes.Equal(t, []byte("---")) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
			cur.Reset()
			continue
		}
		cur.Write(line)
	}
	return append(docs, cur.Bytes())
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func compare(left, right map[string]any) []string {
	keys := map[string]bool{}
	for k := range left {
		keys[k] = true
	}
	for k := range right {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []string
	for _, k := range sorted {
		l, lok := left[k]
		r, rok := right[k]
		switch {
		case !rok:
			out = append(out, fmt.Sprintf("only in left:  %s", k))
		case !lok:
			out = append(out, fmt.Sprintf("only in right: %s", k))
		default:
			for _, d := range diff("", l, r) {
				out = append(out, fmt.Sprintf("%s: %s", k, d))
			}
		}
	}
	return out
}

// diff lists the paths where a and b differ.
func diff(path string, a, b any) []string {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		var out []string
		keys := map[string]bool{}
		for k := range am {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			out = append(out, diff(path+"."+k, am[k], bm[k])...)
		}
		return out
	}
	al, aok := a.([]any)
	bl, bok := b.([]any)
	if aok && bok && len(al) == len(bl) {
		var out []string
		for i := range al {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), al[i], bl[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{fmt.Sprintf("%s: left %s, right %s", strings.TrimPrefix(path, "."), show(a), show(b))}
}

func show(v any) string {
	if v == nil {
		return "<absent>"
	}
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSpace(string(b))
}

