// Command compare checks that two renderings of the deploy manifests (for
// example `helm template` and `kustomize build`) hold the same objects.
//
//	compare [-skip-kind Kind]... LEFT.yaml RIGHT.yaml
//	compare -reference docs/reference.md -dashboard DASHBOARD.json
//	compare -reference docs/reference.md -alerts RULES.yaml
//
// Both files are multi-document YAML. Objects are matched by apiVersion, kind,
// namespace and name and compared as data, so key order, comments, quoting and
// document order do not matter. Every difference is printed with its field
// path; the exit status is 1 when there is any, 2 on bad input.
//
// With -dashboard it instead checks that a Grafana dashboard is valid JSON,
// that its queries name only the metrics the webhook exports (the Metrics
// table of the -reference doc) and that it shows each of them. With -alerts it
// checks that the expressions of a YAML file (a PrometheusRule) name only
// those metrics.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

type kinds []string

func (k *kinds) String() string     { return strings.Join(*k, ",") }
func (k *kinds) Set(v string) error { *k = append(*k, v); return nil }

func main() {
	var skip kinds
	flag.Var(&skip, "skip-kind", "ignore objects of this kind on both sides (repeatable)")
	dashboard := flag.String("dashboard", "", "check this Grafana dashboard JSON instead of comparing")
	alerts := flag.String("alerts", "", "check the expressions of this YAML file (a PrometheusRule) instead of comparing")
	objects := flag.String("objects", "", "check that every object of this rendering is in the reference doc's table of shipped objects, instead of comparing")
	reference := flag.String("reference", "", "the reference doc: its Metrics table lists the exported metrics (for -dashboard and -alerts), its \"Objects in the shipped manifests\" table the objects (for -objects)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "Usage: compare [-skip-kind Kind]... LEFT.yaml RIGHT.yaml\n       compare -reference REFERENCE.md -dashboard DASHBOARD.json\n       compare -reference REFERENCE.md -alerts RULES.yaml\n       compare -reference REFERENCE.md -objects RENDERED.yaml")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *objects != "" {
		if err := checkObjects(*objects, *reference); err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
	if *dashboard != "" || *alerts != "" {
		exported, err := exportedMetrics(*reference)
		if err == nil && *dashboard != "" {
			err = checkQueries(*dashboard, exported, true)
		}
		if err == nil && *alerts != "" {
			err = checkQueries(*alerts, exported, false)
		}
		if err == nil && *alerts != "" {
			err = checkThresholds(*alerts, *reference)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "compare:", err)
			os.Exit(1)
		}
		return
	}
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

var metricName = regexp.MustCompile(`secure_defaults_[a-z_]+`)

// exportedMetrics reads the webhook's metric names from the first column of
// the tables in the "## Metrics" section of the reference doc.
func exportedMetrics(reference string) (map[string]bool, error) {
	if reference == "" {
		return nil, fmt.Errorf("-reference is required with -dashboard and -alerts")
	}
	b, err := os.ReadFile(reference)
	if err != nil {
		return nil, err
	}
	exported := map[string]bool{}
	in := false
	for line := range strings.SplitSeq(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = strings.TrimSpace(line) == "## Metrics"
		case in && strings.HasPrefix(line, "|"):
			first, _, _ := strings.Cut(strings.TrimPrefix(line, "|"), "|")
			for _, m := range metricName.FindAllString(first, -1) {
				exported[m] = true
			}
		}
	}
	if len(exported) == 0 {
		return nil, fmt.Errorf("%s: no secure_defaults_ metric in the Metrics section", reference)
	}
	return exported, nil
}

// quantileAlert is a latency alert: histogram_quantile over the duration
// histogram, compared with a threshold in seconds.
var quantileAlert = regexp.MustCompile(`histogram_quantile\((?s:.*?)secure_defaults_admission_duration_seconds_bucket(?s:.*?)\)\)\)\s*>\s*([0-9.eE+-]+)`)

// checkThresholds checks that every latency alert's threshold in the file at
// path is a bucket bound of the duration histogram (the "Buckets:" list of
// the reference doc): a quantile is exact only at a bound.
func checkThresholds(path, reference string) error {
	ref, err := os.ReadFile(reference)
	if err != nil {
		return err
	}
	_, list, ok := strings.Cut(string(ref), "Buckets: ")
	if !ok {
		return fmt.Errorf("%s: no \"Buckets: \" list of the duration histogram", reference)
	}
	list, _, _ = strings.Cut(list, " |")
	bounds := map[float64]bool{}
	for b := range strings.SplitSeq(list, ", ") {
		d, err := time.ParseDuration(b)
		if err != nil {
			return fmt.Errorf("%s: bucket %q: %w", reference, b, err)
		}
		bounds[d.Seconds()] = true
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	found := quantileAlert.FindAllStringSubmatch(string(b), -1)
	for _, m := range found {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return fmt.Errorf("%s: threshold %q: %w", path, m[1], err)
		}
		if !bounds[v] {
			return fmt.Errorf("%s: latency threshold %ss is not a bucket bound of the duration histogram (%s)", path, m[1], list)
		}
	}
	fmt.Printf("%s: %d latency threshold(s) on bucket bounds\n", path, len(found))
	return nil
}

// checkObjects checks that every object of the rendering at path has a row
// in the "## Objects in the shipped manifests" table of the reference doc: a
// row whose first cell names its kind and whose second names it (in
// backticks).
func checkObjects(path, reference string) error {
	if reference == "" {
		return fmt.Errorf("-reference is required with -objects")
	}
	ref, err := os.ReadFile(reference)
	if err != nil {
		return err
	}
	documented := map[string]bool{}
	in := false
	for line := range strings.SplitSeq(string(ref), "\n") {
		switch {
		case strings.HasPrefix(line, "## "):
			in = strings.TrimSpace(line) == "## Objects in the shipped manifests"
		case in && strings.HasPrefix(line, "|"):
			cells := strings.Split(strings.Trim(line, "|"), "|")
			if len(cells) < 2 {
				continue
			}
			for kind := range strings.SplitSeq(cells[0], ",") {
				for _, name := range backticked.FindAllStringSubmatch(cells[1], -1) {
					documented[strings.TrimSpace(kind)+" "+name[1]] = true
				}
			}
		}
	}
	if len(documented) == 0 {
		return fmt.Errorf("%s: no objects in the section \"Objects in the shipped manifests\"", reference)
	}
	objs, err := load(path, nil)
	if err != nil {
		return err
	}
	var missing []string
	for _, o := range objs {
		obj := o.(map[string]any)
		meta, _ := obj["metadata"].(map[string]any)
		key := fmt.Sprintf("%v %v", obj["kind"], meta["name"])
		if !documented[key] {
			missing = append(missing, key)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		return fmt.Errorf("%s: not in the shipped objects of %s: %s", path, reference, strings.Join(missing, ", "))
	}
	fmt.Printf("%s: all %d objects are in %s\n", path, len(objs), reference)
	return nil
}

var backticked = regexp.MustCompile("`([^`]+)`")

// checkQueries checks that every "expr" in the JSON or YAML file at path
// names only exported metrics (histograms also answer to their _bucket, _sum
// and _count series) and, with all, that every exported metric is queried.
func checkQueries(path string, exported map[string]bool, all bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var exprs []string
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(exprs) == 0 {
		return fmt.Errorf("%s: no queries", path)
	}
	seen := map[string]bool{}
	for _, e := range exprs {
		for _, m := range metricName.FindAllString(e, -1) {
			base := m
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if t, ok := strings.CutSuffix(m, suf); ok && exported[t] {
					base = t
				}
			}
			if !exported[base] {
				return fmt.Errorf("%s: query uses %s, which the webhook does not export: %s", path, m, e)
			}
			seen[base] = true
		}
	}
	for m := range exported {
		if all && !seen[m] {
			return fmt.Errorf("%s: no query shows %s", path, m)
		}
	}
	fmt.Printf("%s: %d queries over %d of the webhook's %d metrics\n", path, len(exprs), len(seen), len(exported))
	return nil
}
