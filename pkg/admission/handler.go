package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
	"github.com/secure-defaults/secure-defaults/pkg/patch"
	"github.com/secure-defaults/secure-defaults/pkg/podsecurity"
)

// ErrMalformedReview is wrapped by every error Review returns: the body was not
// an admission.k8s.io/v1 AdmissionReview with a request, so there is no UID to
// answer to. The HTTP layer answers it with 400 and the error's message.
var ErrMalformedReview = errors.New("malformed AdmissionReview")

// AuditAnnotationDefaulted is the key of the audit annotation that lists the
// rules that changed the pod. The API server prefixes it with the webhook's
// name, so it carries no prefix of its own.
const AuditAnnotationDefaulted = "defaulted"

// AuditAnnotationWouldDefault is the key of the audit annotation that lists,
// for a namespace in audit mode, the rules that would have changed the pod.
const AuditAnnotationWouldDefault = "would-default"

// SubresourceEphemeralContainers is the pods subresource kubectl debug uses to
// add ephemeral containers to a running pod.
const SubresourceEphemeralContainers = "ephemeralcontainers"

var reviewTypeMeta = metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"}

// Handler reviews AdmissionReviews. It is safe for concurrent use.
type Handler struct {
	metrics metrics.Recorder
	log     *slog.Logger
	// options returns the rules' options for one review.
	options func() defaults.Options
	// apply and applyEphemeral are defaults.Apply and defaults.ApplyEphemeral;
	// tests replace them to exercise failures the rules never produce.
	apply          func(*corev1.Pod, defaults.Options) defaults.Result
	applyEphemeral func(*corev1.Pod, []corev1.EphemeralContainer, defaults.Options) defaults.Result
	// images looks up what the pod's images run as; nil: lookup off.
	images func() ImageLookup
}

// ImageLookup is what the handler needs to look up a pod's images: the
// resolver, and how to read pull secrets (nil: not read).
type ImageLookup struct {
	Resolver *imagelookup.Resolver
	Secrets  imagelookup.SecretGetter
}

// NewHandler returns a Handler that records every decoded review in rec and
// logs errors to log. Either may be nil. It runs the shipped rules
// (defaults.Options{}) until SetOptions says otherwise.
func NewHandler(rec metrics.Recorder, log *slog.Logger) *Handler {
	if rec == nil {
		rec = metrics.Nop{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{
		metrics:        rec,
		log:            log,
		options:        func() defaults.Options { return defaults.Options{} },
		apply:          defaults.Apply,
		applyEphemeral: defaults.ApplyEphemeral,
	}
}

// SetOptions makes h ask src for the rules' options at the start of every
// review, so a reloaded configuration takes effect from the next review on.
// src must be safe for concurrent use. Call it before h serves reviews.
func (h *Handler) SetOptions(src func() defaults.Options) {
	if src != nil {
		h.options = src
	}
}

// SetImageLookup makes h look up, before the rules run, what the images of
// each pod run as, with what src returns at the start of each review (a nil
// Resolver: lookup off), so a reloaded configuration takes effect from the
// next review on. src must be safe for concurrent use. Call it before h
// serves reviews.
func (h *Handler) SetImageLookup(src func() ImageLookup) {
	h.images = src
}

// withImageFacts looks up within ctx the images of the containers of pod
// the rules default: all of them, or with old (an ephemeralcontainers
// update) the ephemeral containers old does not have. It returns opts
// carrying what they say, with warnings for lookups that failed. A pod that
// opts out is not looked up.
func (h *Handler) withImageFacts(ctx context.Context, pod, old *corev1.Pod, opts defaults.Options) (defaults.Options, []string) {
	if h.images == nil {
		return opts, nil
	}
	il := h.images()
	if il.Resolver == nil || (defaults.OptedOut(pod) && !opts.IgnorePodOptOut) {
		return opts, nil
	}
	var containers map[string]bool
	if old != nil {
		containers = newEphemeral(pod, old)
	}
	pf := il.Resolver.ForPod(ctx, pod, containers, il.Secrets)
	opts.Facts = pf.Facts()
	return opts, pf.Warnings
}

// outcome is what one review did, for the response, the metrics and the log.
type outcome struct {
	resp   *admissionv1.AdmissionResponse
	result metrics.Result
	// applied lists the rules that changed the pod, or for an audit the
	// rules that would have.
	applied []string
	// skippedRules and skippedContainers are what opt-outs and exclusions
	// left out: rule IDs, and one reason per container.
	skippedRules      []string
	skippedContainers []string
	err               error
	stack             string // of a recovered panic
}

// Review decodes body as an admission.k8s.io/v1 AdmissionReview and returns
// the encoded AdmissionReview to answer with. Once the review has decoded,
// every failure (an object that is not a Pod, a panic, a deadline that has
// passed) is an errored AdmissionResponse carrying the request's UID, never
// an error. The error, which wraps ErrMalformedReview, is for bodies that are
// not a review at all.
//
// Dry-run requests are reviewed like any other: the webhook has no side
// effects.
func (h *Handler) Review(ctx context.Context, body []byte) ([]byte, error) {
	return h.serve(ctx, body, false)
}

// Audit answers a review as Review does, for a namespace in audit mode: it
// runs the same rules on the pod but never patches it. The response allows
// the pod unchanged, with a warning for each field the rules would set and
// the audit annotation AuditAnnotationWouldDefault listing their IDs; the
// review counts with result "audited". Where Review would answer an errored
// response, Audit allows the pod unchanged with a warning saying why (the
// review counts as an error): an audit never blocks a pod.
func (h *Handler) Audit(ctx context.Context, body []byte) ([]byte, error) {
	return h.serve(ctx, body, true)
}

func (h *Handler) serve(ctx context.Context, body []byte, audit bool) ([]byte, error) {
	start := time.Now()
	req, err := decodeReview(body)
	if err != nil {
		return nil, err
	}
	o := h.review(ctx, req, audit)
	if audit && !o.resp.Allowed {
		o.resp = auditFailed(o.resp)
	}
	out, err := json.Marshal(admissionv1.AdmissionReview{TypeMeta: reviewTypeMeta, Response: o.resp})
	if err != nil {
		// Cannot happen with these types; answer rather than drop the request.
		o = outcome{resp: Errored(req.UID, http.StatusInternalServerError, fmt.Errorf("encoding the response: %w", err)), result: metrics.ResultError, err: err}
		out, _ = json.Marshal(admissionv1.AdmissionReview{TypeMeta: reviewTypeMeta, Response: o.resp})
	}
	took := time.Since(start)
	h.metrics.ObserveReview(string(req.Operation), o.result, o.applied, took)
	if len(o.skippedRules) > 0 || len(o.skippedContainers) > 0 {
		h.metrics.ObserveSkipped(o.skippedRules, o.skippedContainers)
	}
	if o.err != nil {
		h.log.LogAttrs(ctx, slog.LevelError, "admission review failed", append(logAttrs(req, o), slog.String("error", o.err.Error()))...)
	} else if h.log.Enabled(ctx, slog.LevelDebug) {
		// Built only when debug logging is on: a review answered at info
		// level costs no log allocations.
		h.log.LogAttrs(ctx, slog.LevelDebug, "admission review", append(logAttrs(req, o), slog.String("rules", strings.Join(o.applied, ",")), slog.Duration("took", took))...)
	}
	return out, nil
}

// auditFailed turns the errored response of an audit into one that allows
// the pod unchanged and says why it was not audited: a response with
// allowed: false denies the pod whatever the webhook's failurePolicy, and
// watching what the defaults would do must never block a pod. The review
// still counts and logs as an error.
func auditFailed(errored *admissionv1.AdmissionResponse) *admissionv1.AdmissionResponse {
	msg := "unknown error"
	if errored.Result != nil && errored.Result.Message != "" {
		msg = errored.Result.Message
	}
	if len(msg) > maxAuditErrorBytes {
		msg = strings.ToValidUTF8(msg[:maxAuditErrorBytes], "") + "..."
	}
	return Allowed(errored.UID, "secure-defaults could not audit this pod: "+msg)
}

// maxAuditErrorBytes bounds the error an audit repeats in its warning.
const maxAuditErrorBytes = 256

// logAttrs describes a review for the log: who and what, never the object.
func logAttrs(req *admissionv1.AdmissionRequest, o outcome) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("uid", string(req.UID)),
		slog.String("operation", string(req.Operation)),
		slog.String("resource", req.Resource.Resource),
		slog.String("subresource", req.SubResource),
		slog.String("namespace", req.Namespace),
		slog.String("name", req.Name),
		slog.Bool("dryRun", req.DryRun != nil && *req.DryRun),
		slog.String("result", string(o.result)),
	}
	if o.stack != "" {
		attrs = append(attrs, slog.String("stack", o.stack))
	}
	return attrs
}

// decodeReview decodes body and checks that it is a v1 AdmissionReview with a
// request that has a UID.
func decodeReview(body []byte) (*admissionv1.AdmissionRequest, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, fmt.Errorf("%w: the request body is empty, expected an %s AdmissionReview", ErrMalformedReview, admissionv1.SchemeGroupVersion)
	}
	var review admissionv1.AdmissionReview
	if err := utiljson.Unmarshal(body, &review); err != nil {
		return nil, fmt.Errorf("%w: decoding the request body: %v", ErrMalformedReview, err)
	}
	if review.APIVersion != reviewTypeMeta.APIVersion || review.Kind != reviewTypeMeta.Kind {
		return nil, fmt.Errorf("%w: got apiVersion %q kind %q, expected apiVersion %q kind %q (set admissionReviewVersions: [v1] in the webhook configuration)",
			ErrMalformedReview, review.APIVersion, review.Kind, reviewTypeMeta.APIVersion, reviewTypeMeta.Kind)
	}
	if review.Request == nil {
		return nil, fmt.Errorf("%w: the review has no request", ErrMalformedReview)
	}
	if review.Request.UID == "" {
		return nil, fmt.Errorf("%w: request.uid is empty", ErrMalformedReview)
	}
	return review.Request, nil
}

// review answers a decoded request. A panic becomes an errored response.
func (h *Handler) review(ctx context.Context, req *admissionv1.AdmissionRequest, audit bool) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			err := fmt.Errorf("internal error while reviewing the request: %v", r)
			o = outcome{resp: Errored(req.UID, http.StatusInternalServerError, err), result: metrics.ResultError, err: err, stack: string(debug.Stack())}
		}
	}()
	if err := ctx.Err(); err != nil {
		err = fmt.Errorf("the review's deadline passed before it could be processed: %w", err)
		return outcome{resp: Errored(req.UID, http.StatusGatewayTimeout, err), result: metrics.ResultError, err: err}
	}
	isPods := req.Resource.Group == "" && req.Resource.Resource == "pods"
	opts := h.options()
	opts.Context = ctx // the rules stop at the review's deadline
	switch {
	case isPods && req.SubResource == "" && req.Operation == admissionv1.Create:
		return h.mutate(req, audit, func(pod *corev1.Pod) (defaults.Result, error) {
			opts, warnings := h.withImageFacts(ctx, pod, nil, opts)
			res := h.apply(pod, opts)
			if !res.OptedOut {
				res.Warnings = append(res.Warnings, warnings...)
			}
			return res, nil
		})
	case isPods && req.SubResource == SubresourceEphemeralContainers && req.Operation == admissionv1.Update:
		return h.mutate(req, audit, func(pod *corev1.Pod) (defaults.Result, error) {
			old, err := decodePod(req.OldObject.Raw, "request.oldObject")
			if err != nil {
				return defaults.Result{}, err
			}
			opts, warnings := h.withImageFacts(ctx, pod, old, opts)
			res := h.applyEphemeral(pod, old.Spec.EphemeralContainers, opts)
			if !res.OptedOut {
				res.Warnings = append(res.Warnings, warnings...)
			}
			return res, nil
		})
	case audit:
		return outcome{resp: Allowed(req.UID), result: metrics.ResultAudited}
	default:
		return outcome{resp: Allowed(req.UID), result: metrics.ResultSkipped}
	}
}

// mutate decodes request.object as a Pod, runs apply on it and answers with
// the patch from the pod as decoded to the pod after apply; for an audit,
// with what the patch would set, and no patch.
func (h *Handler) mutate(req *admissionv1.AdmissionRequest, audit bool, apply func(*corev1.Pod) (defaults.Result, error)) outcome {
	pod, err := decodePod(req.Object.Raw, "request.object")
	if err != nil {
		return outcome{resp: Errored(req.UID, http.StatusBadRequest, err), result: metrics.ResultError, err: err}
	}
	// The rules change the decoded pod in place; the snapshot keeps the parts
	// they may change, so the whole pod (env, managedFields) is never copied.
	snap := patch.Take(pod)
	res, err := apply(pod)
	if err != nil {
		return outcome{resp: Errored(req.UID, http.StatusBadRequest, err), result: metrics.ResultError, err: err}
	}
	if res.Err != nil {
		err := fmt.Errorf("the review's deadline passed while the rules ran: %w", res.Err)
		return outcome{resp: Errored(req.UID, http.StatusGatewayTimeout, err), result: metrics.ResultError, err: err}
	}
	done := func(resp *admissionv1.AdmissionResponse, result metrics.Result, applied []string) outcome {
		if audit {
			result = metrics.ResultAudited
		}
		o := outcome{resp: resp, result: result, applied: applied, skippedRules: res.SkippedRules}
		for _, c := range res.SkippedContainers {
			o.skippedContainers = append(o.skippedContainers, c.Reason)
		}
		return o
	}
	if res.OptedOut {
		return done(Allowed(req.UID, res.Warnings...), metrics.ResultSkipped, nil)
	}
	warnings := res.Warnings
	if w := podsecurity.Warning(pod); w != "" {
		warnings = append(warnings, w)
	}
	if !res.Changed() {
		return done(Allowed(req.UID, warnings...), metrics.ResultUnchanged, nil)
	}
	p, err := snap.Patch(pod)
	if err != nil {
		err = fmt.Errorf("computing the patch: %w", err)
		return outcome{resp: Errored(req.UID, http.StatusInternalServerError, err), result: metrics.ResultError, err: err}
	}
	if len(p) == 0 {
		return done(Allowed(req.UID, warnings...), metrics.ResultUnchanged, nil)
	}
	if audit {
		would, err := describePatch(p, pod)
		if err != nil {
			err = fmt.Errorf("describing the patch: %w", err)
			return outcome{resp: Errored(req.UID, http.StatusInternalServerError, err), result: metrics.ResultError, err: err}
		}
		resp := Allowed(req.UID, append(would, warnings...)...)
		resp.AuditAnnotations = map[string]string{AuditAnnotationWouldDefault: strings.Join(res.Applied, ",")}
		return done(resp, metrics.ResultAudited, res.Applied)
	}
	resp := Patched(req.UID, p, warnings...)
	resp.AuditAnnotations = map[string]string{AuditAnnotationDefaulted: strings.Join(res.Applied, ",")}
	return done(resp, metrics.ResultMutated, res.Applied)
}

// newEphemeral names the ephemeral containers of pod that old does not have:
// the ones an ephemeralcontainers update adds.
func newEphemeral(pod, old *corev1.Pod) map[string]bool {
	had := make(map[string]bool, len(old.Spec.EphemeralContainers))
	for _, c := range old.Spec.EphemeralContainers {
		had[c.Name] = true
	}
	out := map[string]bool{}
	for _, c := range pod.Spec.EphemeralContainers {
		if !had[c.Name] {
			out[c.Name] = true
		}
	}
	return out
}

// decodePod decodes raw, the field named field of the request, as a v1 Pod,
// with the API server's own JSON rules (case-sensitive field names).
func decodePod(raw []byte, field string) (*corev1.Pod, error) {
	if s := bytes.TrimSpace(raw); len(s) == 0 || bytes.Equal(s, []byte("null")) {
		return nil, fmt.Errorf("%s is empty, expected a v1 Pod", field)
	}
	pod := &corev1.Pod{}
	if err := utiljson.Unmarshal(raw, pod); err != nil {
		return nil, fmt.Errorf("decoding %s as a v1 Pod: %v", field, err)
	}
	if (pod.APIVersion != "" && pod.APIVersion != "v1") || (pod.Kind != "" && pod.Kind != "Pod") {
		return nil, fmt.Errorf("%s is apiVersion %q kind %q, expected a v1 Pod", field, pod.APIVersion, pod.Kind)
	}
	// The API server would reject such a pod anyway; refusing it here also
	// keeps the patch valid, since it adds fields under spec.
	if len(pod.Spec.Containers) == 0 {
		return nil, fmt.Errorf("%s has no spec.containers, expected a v1 Pod", field)
	}
	return pod, nil
}
