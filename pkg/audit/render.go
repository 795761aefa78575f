package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Output formats.
const (
	OutputTable = "table"
	OutputWide  = "wide"
	OutputJSON  = "json"
)

// Render writes rep to w in format (table, wide or json).
func Render(w io.Writer, rep *Report, format string) error {
	switch format {
	case OutputJSON:
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
		return nil
	case OutputTable, OutputWide, "":
		return renderTable(w, rep, format == OutputWide)
	}
	return fmt.Errorf("unknown output format %q (want table, wide or json)", format)
}

// renderTable writes the workloads, then the namespace summary, as kubectl
// get does: one aligned row per item, "-" where there is nothing to show.
func renderTable(w io.Writer, rep *Report, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	if len(rep.Workloads) == 0 {
		fmt.Fprintln(tw, "No workloads found.")
	} else {
		header := "NAMESPACE\tKIND\tNAME\tRULES\tRESTRICTED\tSTART\tROOT"
		if wide {
			header += "\tRULE-IDS\tSTILL-FAILS\tNEEDS-ROOT"
		}
		fmt.Fprintln(tw, header)
		for _, wl := range rep.Workloads {
			row := []string{wl.Namespace, wl.Kind, wl.Name, rulesCell(wl), restrictedCell(wl.Restricted.Before, wl.Restricted.After), wl.Start.Verdict, countCell(len(wl.NeedsRoot))}
			if wide {
				row = append(row, listCell(wl.Rules), violationsCell(wl.Restricted.StillFails), rootCell(wl.NeedsRoot))
			}
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "NAMESPACE\tOPTED-IN\tPOD-SECURITY\tWORKLOADS\tWOULD-CHANGE\tRESTRICTED-BEFORE\tRESTRICTED-AFTER\tWOULD-NOT-START\tSTART-UNKNOWN")
	for _, ns := range rep.Namespaces {
		fmt.Fprintln(tw, strings.Join(append([]string{ns.Name, optedInCell(ns), podSecurityCell(ns)}, countsCells(ns.Counts)...), "\t"))
	}
	fmt.Fprintln(tw, strings.Join(append([]string{"TOTAL", "", ""}, countsCells(rep.Totals)...), "\t"))
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

func rulesCell(w Workload) string {
	if w.OptedOut {
		return "opted-out"
	}
	return countCell(len(w.Rules))
}

func restrictedCell(before, after bool) string {
	yn := func(b bool) string {
		if b {
			return "yes"
		}
		return "no"
	}
	if before == after {
		return yn(before)
	}
	return yn(before) + "->" + yn(after)
}

func countCell(n int) string {
	if n == 0 {
		return "-"
	}
	return strconv.Itoa(n)
}

func listCell(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func violationsCell(v []Violation) string {
	reasons := make([]string, 0, len(v))
	for _, x := range v {
		reasons = append(reasons, x.Reason)
	}
	return listCell(reasons)
}

func rootCell(rc []RootContainer) string {
	out := make([]string, 0, len(rc))
	for _, r := range rc {
		out = append(out, fmt.Sprintf("%s(%s)", r.Container, r.Reason))
	}
	return listCell(out)
}

func optedInCell(ns Namespace) string {
	switch {
	case !ns.LabelsKnown:
		return "?"
	case ns.OptedIn:
		return "yes"
	case ns.Inject != "":
		return ns.Inject
	}
	return "no"
}

func podSecurityCell(ns Namespace) string {
	if !ns.LabelsKnown {
		return "?"
	}
	keys := make([]string, 0, len(ns.PodSecurity))
	for k := range ns.PodSecurity {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+ns.PodSecurity[k])
	}
	return listCell(parts)
}

func countsCells(c Counts) []string {
	return []string{
		strconv.Itoa(c.Workloads), strconv.Itoa(c.WouldChange),
		strconv.Itoa(c.RestrictedBefore), strconv.Itoa(c.RestrictedAfter),
		strconv.Itoa(c.WouldNotStart), strconv.Itoa(c.StartUnknown),
	}
}
