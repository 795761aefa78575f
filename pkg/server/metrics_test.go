package server_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// scrape returns the samples of the /metrics page, keyed by name and labels
// as exposed (for example `x_total{a="b"}`).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("bad sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestMetricsCountTraffic sends known traffic and checks the exact counts on
// the /metrics page. The names and labels it reads are those of
// docs/reference.md ("Metrics"), which dashboards and alerts rely on.
func TestMetricsCountTraffic(t *testing.T) {
	ts := start(t, setup{})
	c := ts.client(true)
	running := at.Hardened(at.Pod())
	debugged := running.DeepCopy()
	at.WithEphemeral("dbg")(debugged)
	const badObject = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","operation":"CREATE","resource":{"version":"v1","resource":"pods"},"object":{"spec":"x"}}}`

	type send struct {
		contentType string
		body        []byte
		obj         *corev1.Pod // pods only: the object, to count rules
		rules       func(*corev1.Pod) defaults.Result
	}
	traffic := []send{
		{"application/json", at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())}), at.Pod(), at.Apply},
		{"application/json", at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod()), DryRun: true}), at.Pod(), at.Apply},
		{"application/json", at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Hardened(at.Pod()))}), at.Hardened(at.Pod()), at.Apply},
		{"application/json", at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod(at.OptedOut))}), at.Pod(at.OptedOut), at.Apply},
		{"application/json", at.Review(at.Request{Operation: admissionv1.Update, Resource: at.PodsResource, SubResource: admission.SubresourceEphemeralContainers,
			Object: at.RawPod(debugged), OldObject: at.RawPod(running)}), debugged,
			func(p *corev1.Pod) defaults.Result {
				return defaults.ApplyEphemeral(p, running.Spec.EphemeralContainers, defaults.Options{})
			}},
		{"application/json", at.Review(at.Request{Operation: admissionv1.Create, Resource: metav1.GroupVersionResource{Version: "v1", Resource: "configmaps"}, Object: []byte(`{}`)}), nil, nil},
		{"application/json", at.Review(at.Request{Operation: admissionv1.Delete, Resource: at.PodsResource, OldObject: at.RawPod(at.Pod())}), nil, nil},
		{"application/json", []byte(badObject), nil, nil},
		{"application/json", []byte("not json"), nil, nil},
		{"text/plain", []byte("{}"), nil, nil},
	}

	// What the counters must say, worked out from the rules themselves.
	want := map[string]float64{}
	reviews := func(op, result string) string {
		return `secure_defaults_admission_reviews_total{operation="` + op + `",result="` + result + `"}`
	}
	for _, id := range defaults.RuleIDs() {
		want[`secure_defaults_rule_applied_total{rule="`+id+`"}`] = 0
	}
	decoded := 0.0
	for _, s := range traffic {
		if s.obj == nil {
			continue
		}
		decoded++
		res := s.rules(s.obj.DeepCopy())
		for _, id := range res.Applied {
			want[`secure_defaults_rule_applied_total{rule="`+id+`"}`]++
		}
	}
	want[reviews("CREATE", "mutated")] = 2
	want[reviews("CREATE", "unchanged")] = 1
	want[reviews("CREATE", "skipped")] = 2 // opted out, configmap
	want[reviews("UPDATE", "mutated")] = 1
	want[reviews("DELETE", "skipped")] = 1
	want[reviews("CREATE", "error")] = 1                                   // object is not a Pod
	want[reviews("unknown", "error")] = 2                                  // not JSON, wrong content type
	want["secure_defaults_admission_duration_seconds_count"] = decoded + 3 // + configmap, delete, bad object

	for _, s := range traffic {
		if _, err := post(c, ts.url(), s.contentType, s.body); err != nil {
			t.Fatal(err)
		}
	}
	got := scrape(t, ts.metricsURL("/metrics"))
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k, v := range got {
		if strings.HasPrefix(k, "secure_defaults_admission_reviews_total{") {
			if _, expected := want[k]; !expected {
				t.Errorf("unexpected series %s = %v", k, v)
			}
		}
	}
	if v, ok := got[`secure_defaults_admission_duration_seconds_bucket{le="1e-05"}`]; !ok {
		t.Error("no 10µs bucket in the duration histogram")
	} else if v > got["secure_defaults_admission_duration_seconds_count"] {
		t.Errorf("10µs bucket %v exceeds the count", v)
	}
	buildInfo := false
	for k, v := range got {
		if strings.HasPrefix(k, "secure_defaults_build_info{") && strings.Contains(k, `version="test"`) && strings.Contains(k, `commit="abc123"`) && v == 1 {
			buildInfo = true
		}
	}
	if !buildInfo {
		t.Error("no secure_defaults_build_info{version=\"test\",commit=\"abc123\"} 1")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s: Go and process collectors missing", name)
		}
	}
}
