package metrics

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/secure-defaults/secure-defaults/internal/refdoc"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

func TestRulesStartAtZero(t *testing.T) {
	p := New("v1", "c1")
	for _, id := range defaults.RuleIDs() {
		if got := testutil.ToFloat64(p.rules.WithLabelValues(id)); got != 0 {
			t.Errorf("rule %s starts at %v", id, got)
		}
	}
	if n := testutil.CollectAndCount(p.rules); n != len(defaults.RuleIDs()) {
		t.Errorf("%d rule series before any review, want one per rule (%d)", n, len(defaults.RuleIDs()))
	}
}

// TestLabelsStayBounded feeds values from outside the fixed sets: they must
// not create new series.
func TestLabelsStayBounded(t *testing.T) {
	p := New("v1", "c1")
	ids := defaults.RuleIDs()
	p.ObserveReview("CREATE", ResultMutated, []string{ids[0], "not-a-rule"}, time.Millisecond)
	p.ObserveReview("create", ResultError, nil, time.Millisecond)
	p.ObserveReview(strings.Repeat("X", 100), ResultError, nil, time.Millisecond)
	p.ObserveRejected()

	checks := []struct {
		op, result string
		want       float64
	}{
		{"CREATE", "mutated", 1},
		{OperationUnknown, "error", 3},
	}
	for _, c := range checks {
		if got := testutil.ToFloat64(p.reviews.WithLabelValues(c.op, c.result)); got != c.want {
			t.Errorf("reviews{%s,%s} = %v, want %v", c.op, c.result, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(p.reviews); n != len(checks) {
		t.Errorf("%d review series, want %d", n, len(checks))
	}
	if n := testutil.CollectAndCount(p.rules); n != len(ids) {
		t.Errorf("%d rule series, want %d: an unknown rule ID made a series", n, len(ids))
	}
	if got := testutil.ToFloat64(p.rules.WithLabelValues(ids[0])); got != 1 {
		t.Errorf("rule %s = %v, want 1", ids[0], got)
	}
	// Rejected requests are not timed: three reviews in the histogram.
	if n := testutil.CollectAndCount(p.duration); n != 1 {
		t.Fatalf("histogram series %d", n)
	}
}

func TestDurationBucketsSeeMicroseconds(t *testing.T) {
	if DurationBuckets[0] > 10e-6 || DurationBuckets[1] > 50e-6 {
		t.Errorf("first buckets %v: cannot tell tens of microseconds apart", DurationBuckets[:2])
	}
	if last := DurationBuckets[len(DurationBuckets)-1]; last < 5 {
		t.Errorf("last bucket %v s: below the shipped 5 s webhook timeout", last)
	}
}

// TestDurationBucketsMatchReference checks the bucket bounds against the
// list in docs/reference.md, which the alerts' thresholds are checked
// against too (hack/verify-deploy.sh).
func TestDurationBucketsMatchReference(t *testing.T) {
	doc, err := refdoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := refdoc.Rows(doc, "## Metrics")
	if err != nil {
		t.Fatal(err)
	}
	var documented []float64
	for _, r := range rows {
		if r[0] != "`secure_defaults_admission_duration_seconds`" {
			continue
		}
		_, list, ok := strings.Cut(r[len(r)-1], "Buckets: ")
		if !ok {
			t.Fatalf("%s: no \"Buckets: \" in the row of the duration histogram: %q", refdoc.Path, r)
		}
		for b := range strings.SplitSeq(list, ", ") {
			d, err := time.ParseDuration(b)
			if err != nil {
				t.Fatalf("%s: bucket %q: %v", refdoc.Path, b, err)
			}
			documented = append(documented, d.Seconds())
		}
	}
	if !slices.Equal(documented, DurationBuckets) {
		t.Errorf("%s lists buckets %v, the histogram has %v", refdoc.Path, documented, DurationBuckets)
	}
}

// TestMetricsMatchReference checks the metrics registered here against the
// table in docs/reference.md, both ways, by name: dashboards and alerts are
// written against that table.
func TestMetricsMatchReference(t *testing.T) {
	doc, err := refdoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	documented, err := refdoc.Names(doc, "## Metrics")
	if err != nil {
		t.Fatal(err)
	}
	p := New("v1", "c1")
	p.ObserveReview("CREATE", ResultMutated, nil, time.Millisecond) // vectors show once they have a series
	p.ObserveCertificate(time.Now())
	families, err := p.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, f := range families {
		name := f.GetName()
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue // the standard collectors, documented as such
		}
		have = append(have, name)
		if !slices.Contains(documented, name) {
			t.Errorf("metric %s is not in the Metrics table of %s", name, refdoc.Path)
		}
	}
	for _, d := range documented {
		if !slices.Contains(have, d) {
			t.Errorf("%s documents metric %s, which is not registered", refdoc.Path, d)
		}
	}
}

func TestImageLookups(t *testing.T) {
	p := New("v1", "c1")
	var _ imagelookup.Observer = p
	if n := testutil.CollectAndCount(p.lookups); n != 4 {
		t.Errorf("%d lookup series before any lookup, want 4 (hit, miss, error, timeout)", n)
	}
	p.ObserveImageLookup(imagelookup.ResultHit, time.Microsecond)
	p.ObserveImageLookup(imagelookup.ResultTimeout, time.Second)
	p.ObserveImageLookup("surprise", time.Millisecond)
	for result, want := range map[string]float64{"hit": 1, "miss": 0, "timeout": 1, "error": 1} {
		if got := testutil.ToFloat64(p.lookups.WithLabelValues(result)); got != want {
			t.Errorf("lookups{result=%s} = %v, want %v", result, got, want)
		}
	}
	if n := testutil.CollectAndCount(p.lookups); n != 4 {
		t.Errorf("%d lookup series, want 4: an unknown result made a series", n)
	}
	families, err := p.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var count uint64
	for _, mf := range families {
		if mf.GetName() == "secure_defaults_image_lookup_duration_seconds" {
			count = mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	if count != 3 {
		t.Errorf("the duration histogram holds %d lookups, want 3", count)
	}
}

// TestCertificateMetrics: no expiry series before a certificate is served
// (a 0 would read as long expired to an alert), then the served one's
// notAfter; failures count from 0.
func TestCertificateMetrics(t *testing.T) {
	p := New("v1", "c1")
	if n := testutil.CollectAndCount(p.certExpiry); n != 0 {
		t.Errorf("%d expiry series before any certificate, want 0", n)
	}
	if n := testutil.CollectAndCount(p.reloadFailures); n != 1 {
		t.Errorf("%d reload failure series at start, want 1 (at 0)", n)
	}
	notAfter := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	p.ObserveCertificate(notAfter)
	p.ObserveReloadFailure()
	p.ObserveReloadFailure()
	if got := testutil.ToFloat64(p.certExpiry.WithLabelValues()); got != float64(notAfter.Unix()) {
		t.Errorf("expiry = %v, want %v", got, notAfter.Unix())
	}
	if got := testutil.ToFloat64(p.reloadFailures); got != 2 {
		t.Errorf("reload failures = %v, want 2", got)
	}
}
