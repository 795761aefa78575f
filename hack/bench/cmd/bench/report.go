package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// goBench is the median of one benchmark's runs.
type goBench struct {
	nsOp, bytesOp, allocsOp float64
	mbs                     float64 // input MB/s, for the review size
	runs                    int
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) MB/s)?(?:\s+([\d.]+) B/op)?(?:\s+([\d.]+) allocs/op)?`)

// parseGoBench reads `go test -bench` output and returns the median of each
// benchmark's runs.
func parseGoBench(r io.Reader) (map[string]goBench, []string, error) {
	type runs struct{ ns, b, a, mbs []float64 }
	all := map[string]*runs{}
	var order []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := benchLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		x := all[m[1]]
		if x == nil {
			x = &runs{}
			all[m[1]] = x
			order = append(order, m[1])
		}
		f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		x.ns, x.mbs, x.b, x.a = append(x.ns, f(m[2])), append(x.mbs, f(m[3])), append(x.b, f(m[4])), append(x.a, f(m[5]))
	}
	out := map[string]goBench{}
	for k, x := range all {
		out[k] = goBench{nsOp: median(x.ns), mbs: median(x.mbs), bytesOp: median(x.b), allocsOp: median(x.a), runs: len(x.ns)}
	}
	return out, order, sc.Err()
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func runReport(args []string) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	goBenchFile := fs.String("go-bench", "", "output of go test -bench ./pkg/admission/")
	loadFile := fs.String("load", "", "output of bench load")
	apiFile := fs.String("apiserver", "", "output of bench apiserver (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	t := &table{}
	fmt.Printf("secure-defaults benchmarks, %s: %d CPUs (%s), %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.NumCPU(), cpuModel(), runtime.Version())

	if *goBenchFile != "" {
		f, err := os.Open(*goBenchFile)
		if err != nil {
			return err
		}
		benches, _, err := parseGoBench(f)
		f.Close()
		if err != nil {
			return err
		}
		inProcess(t, benches)
	}
	if *loadFile != "" {
		var lr loadResult
		if err := readJSON(*loadFile, &lr); err != nil {
			return err
		}
		loadRows(t, &lr)
	}
	if *apiFile != "" {
		var ar apiResult
		if err := readJSON(*apiFile, &ar); err != nil {
			return err
		}
		apiRows(t, &ar)
	}
	t.print(os.Stdout)
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// table is the one table the report prints.
type table struct{ rows [][]string }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) print(w io.Writer) {
	header := []string{"measure", "secure-defaults", "baseline", "ratio", "target", "met"}
	widths := make([]int, len(header))
	for _, r := range append([][]string{header}, t.rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	line := func(r []string) {
		fmt.Fprint(w, "|")
		for i, c := range r {
			fmt.Fprintf(w, " %-*s |", widths[i], c)
		}
		fmt.Fprintln(w)
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, r := range t.rows {
		line(r)
	}
}

func verdict(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func us(ns float64) string { return fmt.Sprintf("%.0f µs", ns/1e3) }

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	}
}

// inProcess adds the rows of the in-process benchmarks.
func inProcess(t *table, b map[string]goBench) {
	type pod struct{ key, label string }
	pods := []pod{{"deployment", "Deployment pod"}, {"env10", "env=10"}, {"env100", "env=100"}, {"env1000", "env=1000 (large)"}, {"env5000", "env=5000"}}
	get := func(key, path string) (goBench, bool) {
		g, ok := b["BenchmarkReview/pod="+key+"/path="+path]
		return g, ok
	}
	// size is the review's size in bytes: ns/op × MB/s = bytes × 1e3.
	size := func(g goBench) float64 { return g.nsOp * g.mbs / 1e3 }
	for _, p := range pods {
		h, okh := get(p.key, "handler")
		f, okf := get(p.key, "floor")
		if !okh || !okf {
			continue
		}
		ratio := h.nsOp / f.nsOp
		label := fmt.Sprintf("in-process review, %s, %.1f KB: handler vs floor (median of %d)", p.label, size(h)/1e3, h.runs)
		ours := fmt.Sprintf("%s, %.0f KB/op, %.0f allocs", us(h.nsOp), h.bytesOp/1024, h.allocsOp)
		base := fmt.Sprintf("floor %s, %.0f KB/op, %.0f allocs", us(f.nsOp), f.bytesOp/1024, f.allocsOp)
		switch p.key {
		case "deployment":
			t.add(label, ours, base, fmt.Sprintf("%.2f×", ratio), "≤ 1.5×", verdict(ratio <= 1.5))
		case "env1000":
			dh, _ := get("deployment", "handler")
			df, _ := get("deployment", "floor")
			small := dh.nsOp / df.nsOp
			t.add(label, ours, base, fmt.Sprintf("%.2f×", ratio), fmt.Sprintf("≤ the 5 KB ratio (%.2f×)", small), verdict(ratio <= max(small, 1.05)))
		default:
			t.add(label, ours, base, fmt.Sprintf("%.2f×", ratio), "", "")
		}
	}
	// Growth: the cost per byte from env=1000 to env=5000, ours against the
	// floor's (the decoder itself grows a little faster than linearly as the
	// heap grows); a quadratic step would show as ours growing faster.
	h1, ok1 := get("env1000", "handler")
	h5, ok5 := get("env5000", "handler")
	f1, ok3 := get("env1000", "floor")
	f5, ok4 := get("env5000", "floor")
	if ok1 && ok5 && ok3 && ok4 {
		gh := (h5.nsOp / size(h5)) / (h1.nsOp / size(h1))
		gf := (f5.nsOp / size(f5)) / (f1.nsOp / size(f1))
		t.add("  cost per byte, env=5000 / env=1000 (1.0 = linear)", fmt.Sprintf("%.2f×", gh), fmt.Sprintf("floor %.2f×", gf), fmt.Sprintf("%.2f×", gh/gf), "≤ 1.2× the floor's growth", verdict(gh/gf <= 1.2))
	}
}

// loadRows adds the rows of the TLS load test.
func loadRows(t *table, lr *loadResult) {
	by := map[string]*loadServer{}
	for _, s := range lr.Servers {
		by[s.Name] = s
	}
	o, r, i := by[ours], by[reference], by[ideal]
	if o == nil || r == nil {
		return
	}
	cond := fmt.Sprintf("p99 < %s, 0 errors; %d conns, %gs steps", dur(lr.P99Limit), lr.Connections, lr.StepSeconds)
	ratio, ratioText := 0.0, "n/a"
	if r.MaxRate > 0 {
		ratio = o.MaxRate / r.MaxRate
		ratioText = fmt.Sprintf("%.2f×", ratio)
	}
	t.add("HTTPS max sustainable rate ("+cond+")", fmt.Sprintf("%.0f/s", o.MaxRate), fmt.Sprintf("controller-runtime %.0f/s", r.MaxRate), ratioText, "≥ 2×", verdict(ratio >= 2))
	if i != nil && i.MaxRate > 0 {
		t.add("HTTPS max sustainable rate, vs the ideal webhook", fmt.Sprintf("%.0f/s", o.MaxRate), fmt.Sprintf("ideal %.0f/s", i.MaxRate), fmt.Sprintf("%.2f×", o.MaxRate/i.MaxRate), "", "")
	}
	t.add("  re-run at that rate on a fresh process: p99, errors", fmt.Sprintf("%s, %d errors", dur(o.AtMax.P99), o.AtMax.Errors), fmt.Sprintf("controller-runtime %s, %d errors", dur(r.AtMax.P99), r.AtMax.Errors), "", "", "")
	fixed := fmt.Sprintf("HTTPS at a fixed %.0f/s for %gs", lr.FixedRate, lr.FixedSeconds)
	pr := float64(o.Fixed.P99) / float64(r.Fixed.P99)
	t.add(fixed+": p99", dur(o.Fixed.P99), "controller-runtime "+dur(r.Fixed.P99), fmt.Sprintf("%.2f×", pr), "< 1×", verdict(pr < 1))
	t.add(fixed+": p50 / max", dur(o.Fixed.P50)+" / "+dur(o.Fixed.Max), "controller-runtime "+dur(r.Fixed.P50)+" / "+dur(r.Fixed.Max), fmt.Sprintf("%.2f×", float64(o.Fixed.P50)/float64(r.Fixed.P50)), "", "")
	t.add(fixed+": errors", fmt.Sprint(o.Fixed.Errors), fmt.Sprintf("controller-runtime %d", r.Fixed.Errors), "", "0", verdict(o.Fixed.Errors == 0))
	t.add(fixed+": server CPU per review", dur(o.Fixed.CPUPerReq), "controller-runtime "+dur(r.Fixed.CPUPerReq), fmt.Sprintf("%.2f×", float64(o.Fixed.CPUPerReq)/float64(r.Fixed.CPUPerReq)), "", "")
	if i != nil {
		t.add(fixed+": server CPU per review, vs ideal", dur(o.Fixed.CPUPerReq), "ideal "+dur(i.Fixed.CPUPerReq), fmt.Sprintf("%.2f×", float64(o.Fixed.CPUPerReq)/float64(i.Fixed.CPUPerReq)), "", "")
	}
	t.add("server peak RSS (VmHWM) at its max rate", fmt.Sprintf("%.1f MiB", float64(o.RSSKiB)/1024), fmt.Sprintf("controller-runtime %.1f MiB", float64(r.RSSKiB)/1024), "", "≤ 64 MiB", verdict(o.RSSKiB <= 64*1024))
	if i != nil {
		t.add("patch operations for the 5 KB review", fmt.Sprint(o.PatchOps), fmt.Sprintf("ideal %d, controller-runtime %d", i.PatchOps, r.PatchOps), "", "fewest", verdict(o.PatchOps <= i.PatchOps))
	}
}

// apiRows adds the rows of the API server test.
func apiRows(t *table, ar *apiResult) {
	modes := make([]string, 0, len(ar.Results))
	for m := range ar.Results {
		modes = append(modes, m)
	}
	slices.Sort(modes) // "1 client" before "N clients"
	for _, mode := range modes {
		res := ar.Results[mode]
		base, id, o := res[none], res[ideal], res[ours]
		n := ar.Rounds * ar.Sequential
		if mode != "1 client" {
			n = ar.Rounds * ar.Concurrency * ar.PerClient
		}
		label := fmt.Sprintf("API server dry-run create, %s (%d creates each, %d rounds)", mode, n, ar.Rounds)
		for _, q := range []struct {
			name   string
			get    func(latencies) time.Duration
			target bool
		}{{"median", func(l latencies) time.Duration { return l.Median }, true}, {"p99", func(l latencies) time.Duration { return l.P99 }, true}} {
			addedOurs, addedIdeal := q.get(o)-q.get(base), q.get(id)-q.get(base)
			ratio := "n/a"
			ok := addedOurs <= 0
			if addedIdeal > 0 && addedOurs > 0 {
				ratio = fmt.Sprintf("%.2f×", float64(addedOurs)/float64(addedIdeal))
				ok = float64(addedOurs) <= 1.1*float64(addedIdeal)
			}
			t.add(fmt.Sprintf("%s: added %s (no webhook %s)", label, q.name, dur(q.get(base))), signed(addedOurs), "ideal "+signed(addedIdeal), ratio, "≤ 1.1× ideal", verdict(ok))
			// The in-tree policy, measured in the same rounds: its
			// latency against the webhook's and against no webhook.
			if p, ok := res[policy]; ok && q.get(o) > 0 && q.get(base) > 0 {
				ratio := func(a, b latencies) string { return fmt.Sprintf("%.2f×", float64(q.get(a))/float64(q.get(b))) }
				t.add(fmt.Sprintf("  %s: MutatingAdmissionPolicy vs secure-defaults", q.name), "policy "+dur(q.get(p)), "secure-defaults "+dur(q.get(o)), ratio(p, o), "", "")
				t.add(fmt.Sprintf("  %s: MutatingAdmissionPolicy vs no webhook (secure-defaults %s)", q.name, ratio(o, base)), "policy "+dur(q.get(p)), "no webhook "+dur(q.get(base)), ratio(p, base), "", "")
			}
		}
	}
	if !ar.Same {
		t.add("API server: ideal and secure-defaults admitted the same pod", "NO", "", "", "same", "NO")
	}
	if _, ok := ar.Results["1 client"][policy]; ok && !ar.SamePolicy {
		t.add("API server: the policy and secure-defaults admitted the same pod", "NO", "", "", "same", "NO")
	}
}

func signed(d time.Duration) string {
	if d < 0 {
		return "-" + dur(-d)
	}
	return "+" + dur(d)
}
