package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// Result is the outcome of one admission review, the value of the result label.
type Result string

const (
	// ResultMutated: the webhook answered with a patch.
	ResultMutated Result = "mutated"
	// ResultUnchanged: the pod was in scope but already had every default.
	ResultUnchanged Result = "unchanged"
	// ResultSkipped: the pod opted out, or the request is for a resource or
	// operation the webhook does not handle; it was allowed unchanged.
	ResultSkipped Result = "skipped"
	// ResultAudited: a review answered on /audit, for a namespace in audit
	// mode: nothing was patched; the response says what would have been.
	ResultAudited Result = "audited"
	// ResultError: the webhook answered with an error, or refused a request
	// it could not review (malformed, too large, wrong content type).
	ResultError Result = "error"
)

// OperationUnknown is the operation label of a request whose operation is not
// one of the four admission operations, including requests that could not be
// decoded at all.
const OperationUnknown = "unknown"

// operations is the fixed set of operation label values besides OperationUnknown.
var operations = map[string]bool{"CREATE": true, "UPDATE": true, "DELETE": true, "CONNECT": true}

// Recorder receives the events the metrics count. Implementations must be
// safe for concurrent use.
type Recorder interface {
	// ObserveReview records one decoded review: its operation, its outcome,
	// the IDs of the rules that changed the pod, and the time it took.
	ObserveReview(operation string, result Result, applied []string, took time.Duration)
	// ObserveRejected records a request refused before it could be reviewed:
	// an undecodable review, a body over the limit, a wrong content type.
	ObserveRejected()
	// ObserveSkipped records what one pod's opt-outs and the configured
	// exclusions left out: the IDs of the rules its skip-rules annotation
	// kept from running, and the reasons (defaults.SkipReason*) of each
	// container left alone.
	ObserveSkipped(rules []string, containerReasons []string)
}

// Nop is a Recorder that records nothing.
type Nop struct{}

// ObserveReview implements Recorder.
func (Nop) ObserveReview(string, Result, []string, time.Duration) {}

// ObserveRejected implements Recorder.
func (Nop) ObserveRejected() {}

// ObserveSkipped implements Recorder.
func (Nop) ObserveSkipped([]string, []string) {}

// DurationBuckets are the upper bounds, in seconds, of the review duration
// histogram: 1, 2.5 and 5 per decade from 10µs to 10s, bounds a person reads
// at a glance (le="0.00025" is 250µs) that tell a review of tens of
// microseconds from one of hundreds. The shipped webhook timeout is 5s, so
// only a review the API server has given up on lands above 10s. Alert
// thresholds on quantiles sit on these bounds (docs/reference.md lists them).
var DurationBuckets = []float64{
	10e-6, 25e-6, 50e-6, // µs
	100e-6, 250e-6, 500e-6,
	1e-3, 2.5e-3, 5e-3, // ms
	10e-3, 25e-3, 50e-3,
	100e-3, 250e-3, 500e-3,
	1, 2.5, 5, // s
	10,
}

// Prometheus is the Recorder that feeds the Prometheus collectors. Create it
// with New; serve its metrics with Handler.
type Prometheus struct {
	registry *prometheus.Registry
	reviews  *prometheus.CounterVec
	rules    *prometheus.CounterVec
	duration prometheus.Histogram
	// certExpiry has no labels; it is a vector so that it has no series
	// until a certificate is served (a 0 would read as long expired).
	certExpiry     *prometheus.GaugeVec
	reloadFailures prometheus.Counter

	lookups           *prometheus.CounterVec
	lookupDuration    prometheus.Histogram
	wouldApply        *prometheus.CounterVec
	skippedRules      *prometheus.CounterVec
	skippedContainers *prometheus.CounterVec
	configReloads     *prometheus.CounterVec
	configLastReload  prometheus.Gauge

	knownRules map[string]bool
}

// lookupResults is the fixed set of result label values of the image lookup
// counter; every one starts at 0.
var lookupResults = []imagelookup.Result{imagelookup.ResultHit, imagelookup.ResultMiss, imagelookup.ResultError, imagelookup.ResultTimeout}

// skipReasons is the fixed set of the reason label of skipped containers.
var skipReasons = []string{defaults.SkipReasonAnnotation, defaults.SkipReasonExcludeContainers, defaults.SkipReasonExcludeImages}

// New returns a Prometheus recorder on a fresh registry, with the Go and
// process collectors and the build info gauge labelled with version and
// commit. Every rule's counter starts at 0, so a rate() over it works before
// the rule first fires.
func New(version, commit string) *Prometheus {
	p := &Prometheus{
		registry: prometheus.NewRegistry(),
		reviews: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_admission_reviews_total",
			Help: "Admission reviews answered, by operation and result (mutated, unchanged, skipped, audited, error).",
		}, []string{"operation", "result"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_rule_applied_total",
			Help: "Pods changed by each rule: one increment per pod a rule changed.",
		}, []string{"rule"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "secure_defaults_admission_duration_seconds",
			Help:    "Time spent reviewing one admission review, from decoded request to encoded response.",
			Buckets: DurationBuckets,
		}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_image_lookups_total",
			Help: "Image lookups, one per distinct image of a reviewed pod, by result (hit: from the cache; miss: from the registry; error; timeout).",
		}, []string{"result"}),
		lookupDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "secure_defaults_image_lookup_duration_seconds",
			Help:    "Time a review waited for one image lookup, cache hits included.",
			Buckets: DurationBuckets,
		}),
		certExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "secure_defaults_tls_certificate_expiry_timestamp_seconds",
			Help: "Expiry (notAfter, Unix seconds) of the serving certificate in use; absent until one is loaded.",
		}, nil),
		reloadFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "secure_defaults_tls_reload_failures_total",
			Help: "Loads of the certificate files that failed (unreadable, mismatched key, expired or not yet valid); the previous certificate stays in use.",
		}),
		wouldApply: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_rule_would_apply_total",
			Help: "Pods in audit namespaces that each rule would have changed: one increment per pod and rule.",
		}, []string{"rule"}),
		skippedRules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_rule_skipped_total",
			Help: "Pods whose secure-defaults.dev/skip-rules annotation kept an enabled rule from running, by rule.",
		}, []string{"rule"}),
		skippedContainers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_containers_skipped_total",
			Help: "Containers left without secure defaults, by reason: annotation (secure-defaults.dev/skip-containers), excludeContainers, excludeImages.",
		}, []string{"reason"}),
		configReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secure_defaults_config_reloads_total",
			Help: "Loads of a changed configuration file, by result (success, failure). A failure keeps the previous configuration.",
		}, []string{"result"}),
		configLastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "secure_defaults_config_last_reload_successful",
			Help: "1 when the configuration file in use is the file on disk, 0 when the file changed and does not load.",
		}),
		knownRules: map[string]bool{},
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "secure_defaults_build_info",
		Help:        "Build identity of the running binary; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "goversion": runtime.Version()},
	})
	build.Set(1)
	for _, id := range defaults.RuleIDs() {
		p.knownRules[id] = true
		p.rules.WithLabelValues(id)
		p.wouldApply.WithLabelValues(id)
		p.skippedRules.WithLabelValues(id)
	}
	for _, r := range lookupResults {
		p.lookups.WithLabelValues(string(r))
	}
	for _, r := range skipReasons {
		p.skippedContainers.WithLabelValues(r)
	}
	p.configReloads.WithLabelValues("success")
	p.configReloads.WithLabelValues("failure")
	p.configLastReload.Set(1) // no file, or the file loaded at start
	p.registry.MustRegister(
		p.reviews, p.rules, p.duration, p.lookups, p.lookupDuration, p.certExpiry, p.reloadFailures, build,
		p.wouldApply, p.skippedRules, p.skippedContainers, p.configReloads, p.configLastReload,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return p
}

// ObserveReview implements Recorder. An operation outside the four admission
// operations is counted as OperationUnknown, and rule IDs that are not
// registered are not counted, so no label can grow without bound. For an
// audited review, applied lists what would have been applied, and is counted
// in secure_defaults_rule_would_apply_total.
func (p *Prometheus) ObserveReview(operation string, result Result, applied []string, took time.Duration) {
	if !operations[operation] {
		operation = OperationUnknown
	}
	p.reviews.WithLabelValues(operation, string(result)).Inc()
	rules := p.rules
	if result == ResultAudited {
		rules = p.wouldApply
	}
	for _, id := range applied {
		if p.knownRules[id] {
			rules.WithLabelValues(id).Inc()
		}
	}
	p.duration.Observe(took.Seconds())
}

// ObserveRejected implements Recorder: the request counts as a review with
// operation OperationUnknown and result error. It is not timed.
func (p *Prometheus) ObserveRejected() {
	p.reviews.WithLabelValues(OperationUnknown, string(ResultError)).Inc()
}

// ObserveImageLookup implements imagelookup.Observer. A result outside the
// fixed set is counted as an error, so the label cannot grow.
func (p *Prometheus) ObserveImageLookup(result imagelookup.Result, took time.Duration) {
	switch result {
	case imagelookup.ResultHit, imagelookup.ResultMiss, imagelookup.ResultTimeout:
	default:
		result = imagelookup.ResultError
	}
	p.lookups.WithLabelValues(string(result)).Inc()
	p.lookupDuration.Observe(took.Seconds())
}

// ObserveCertificate records the expiry of the serving certificate now in
// use (certwatch.Observer).
func (p *Prometheus) ObserveCertificate(notAfter time.Time) {
	p.certExpiry.WithLabelValues().Set(float64(notAfter.Unix()))
}

// ObserveReloadFailure counts a failed load of the certificate files
// (certwatch.Observer).
func (p *Prometheus) ObserveReloadFailure() { p.reloadFailures.Inc() }

// ObserveSkipped implements Recorder. Unknown rule IDs and reasons are not
// counted, so no label can grow without bound.
func (p *Prometheus) ObserveSkipped(rules []string, containerReasons []string) {
	for _, id := range rules {
		if p.knownRules[id] {
			p.skippedRules.WithLabelValues(id).Inc()
		}
	}
	for _, r := range containerReasons {
		for _, known := range skipReasons {
			if r == known {
				p.skippedContainers.WithLabelValues(r).Inc()
			}
		}
	}
}

// ObserveConfigReload counts one load of a changed configuration file; it
// implements config.ReloadRecorder.
func (p *Prometheus) ObserveConfigReload(ok bool) {
	if ok {
		p.configReloads.WithLabelValues("success").Inc()
		p.configLastReload.Set(1)
		return
	}
	p.configReloads.WithLabelValues("failure").Inc()
	p.configLastReload.Set(0)
}

// Handler serves the registry in the Prometheus exposition format.
func (p *Prometheus) Handler() http.Handler {
	return promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{Registry: p.registry})
}
