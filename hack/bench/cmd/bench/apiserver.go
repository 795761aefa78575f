package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/export"
)

// webhookConfigName is the MutatingWebhookConfiguration the driver writes;
// only its URL differs between the ideal webhook and secure-defaults.
const webhookConfigName = "secure-defaults-bench"

// none is the configuration without a webhook; policy the in-tree
// MutatingAdmissionPolicy that `secure-defaults export
// mutating-admission-policy` prints for the shipped configuration, with its
// binding (the same namespace selector as the webhook).
const (
	none   = "no webhook"
	policy = "policy"
)

// latencies are the client-side durations of dry-run creates.
type latencies struct {
	N      int           `json:"n"`
	Median time.Duration `json:"median"`
	P99    time.Duration `json:"p99"`
}

// apiResult is the output of `bench apiserver`.
type apiResult struct {
	Rounds      int `json:"rounds"`
	Sequential  int `json:"sequential"`  // creates per round by one client
	Concurrency int `json:"concurrency"` // clients of the concurrent phase
	PerClient   int `json:"perClient"`   // creates per client per round
	// Results[mode][config]; mode is "1 client" or "N clients".
	Results map[string]map[string]latencies `json:"results"`
	// Same is true when the ideal webhook and secure-defaults admitted the
	// same pod; SamePolicy when the policy and secure-defaults did.
	Same       bool           `json:"same"`
	SamePolicy bool           `json:"samePolicy"`
	PatchOps   map[string]int `json:"patchOps"`
}

func runAPIServer(args []string) error {
	fs := flag.NewFlagSet("apiserver", flag.ContinueOnError)
	binDir := fs.String("bin-dir", "", "directory with the secure-defaults and ideal-webhook binaries")
	e2eBins := fs.String("e2e-bins", os.Getenv(framework.BinsEnv), "directory with kube-apiserver and etcd (hack/e2e-bins.sh)")
	reviewFile := fs.String("review", "pkg/admission/testdata/review-deployment-pod.json", "AdmissionReview whose pod is created")
	out := fs.String("out", "apiserver.json", "where to write the results")
	rounds := fs.Int("rounds", 6, "rounds; each measures every configuration once")
	seq := fs.Int("sequential", 100, "creates per round by one client")
	conc := fs.Int("concurrency", 8, "clients of the concurrent phase")
	perClient := fs.Int("per-client", 25, "creates per client per round in the concurrent phase")
	if err := fs.Parse(args); err != nil {
		return err
	}
	review, err := readReview(*reviewFile)
	if err != nil {
		return err
	}
	pod, err := benchPod(review)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "secure-defaults-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	defer framework.StopAll()
	ctx := context.Background()

	logf("starting etcd and kube-apiserver")
	cp, err := framework.Start(ctx, framework.Options{BinDir: *e2eBins, Dir: dir})
	if err != nil {
		return err
	}
	defer cp.Stop()
	cert, err := framework.GenerateServingCert(dir, "127.0.0.1")
	if err != nil {
		return err
	}
	pool, err := caPool(cert)
	if err != nil {
		return err
	}
	res := &apiResult{Rounds: *rounds, Sequential: *seq, Concurrency: *conc, PerClient: *perClient,
		Results: map[string]map[string]latencies{}, PatchOps: map[string]int{}}
	hooks := map[string]*webhook{}
	for _, name := range []string{ideal, ours} {
		w, err := startWebhook(ctx, name, *binDir, dir, cert, pool, review)
		if err != nil {
			return err
		}
		if res.PatchOps[name], err = checkAnswer(ctx, w, pool, review); err != nil {
			return err
		}
		hooks[name] = w
	}

	// A client without client-side rate limiting: the API server's latency
	// is what is measured.
	cfg := rest.CopyConfig(cp.Config)
	cfg.QPS, cfg.Burst = -1, 0
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ns, err := cp.CreateNamespace(ctx, "bench-", map[string]string{defaults.InjectKey: defaults.InjectEnabled})
	if err != nil {
		return err
	}
	pod.Namespace = ns.Name
	pol, err := export.Build(config.Default(), "")
	if err != nil {
		return err
	}

	configs := []string{none, ideal, ours, policy}
	samples := map[string]map[string][]time.Duration{"1 client": {}, fmt.Sprintf("%d clients", *conc): {}}
	admitted := map[string]*corev1.Pod{}
	for r := range *rounds {
		for i := range configs {
			// Rotate the order each round so no configuration always
			// follows the same one.
			c := configs[(i+r)%len(configs)]
			got, err := activate(ctx, cp, client, c, hooks, pol, cert.CAPEM, pod)
			if err != nil {
				return err
			}
			admitted[c] = got
			for mode, clients := range map[string]int{"1 client": 1, fmt.Sprintf("%d clients", *conc): *conc} {
				n := *seq
				if clients > 1 {
					n = *perClient
				}
				d, err := creates(ctx, client, pod, clients, n)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", c, mode, err)
				}
				samples[mode][c] = append(samples[mode][c], d...)
			}
		}
		logf("round %d of %d done", r+1, *rounds)
	}
	if err := deactivate(ctx, cp, client, pod); err != nil {
		return err
	}
	res.Same = sameDefaults(admitted[ideal], admitted[ours])
	if !res.Same {
		a, _ := json.Marshal(admitted[ideal])
		b, _ := json.Marshal(admitted[ours])
		logf("WARNING: the ideal webhook and secure-defaults admitted different pods:\n%s\n%s", a, b)
	}
	// The differences export documents (the /tmp volume's name when
	// tmp-<container> is taken, ephemeral containers) do not arise for this
	// pod, so the policy's pod must equal the webhook's.
	res.SamePolicy = sameDefaults(admitted[ours], admitted[policy])
	if !res.SamePolicy {
		a, _ := json.Marshal(admitted[ours])
		b, _ := json.Marshal(admitted[policy])
		logf("WARNING: secure-defaults and the policy admitted different pods:\n%s\n%s", a, b)
	}
	for mode, byConfig := range samples {
		res.Results[mode] = map[string]latencies{}
		for c, d := range byConfig {
			slices.Sort(d)
			res.Results[mode][c] = latencies{N: len(d), Median: quantile(d, 0.5), P99: quantile(d, 0.99)}
			logf("%-9s %-16s n=%d median %v p99 %v", mode, c, len(d), quantile(d, 0.5), quantile(d, 0.99))
		}
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out, b, 0o644)
}

// benchPod is the review's pod as its owner would submit it: without what
// the API server adds (managedFields, the service-account token volume,
// which the ServiceAccount admission plugin adds again) and without an owner
// that does not exist here.
func benchPod(review []byte) (*corev1.Pod, error) {
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(review, &rev); err != nil || rev.Request == nil {
		return nil, fmt.Errorf("decoding the review: %v", err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(rev.Request.Object.Raw, pod); err != nil {
		return nil, err
	}
	pod.ManagedFields, pod.OwnerReferences = nil, nil
	isToken := func(name string) bool { return strings.HasPrefix(name, "kube-api-access-") }
	pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, func(v corev1.Volume) bool { return isToken(v.Name) })
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return isToken(m.Name) })
	}
	return pod, nil
}

// activate makes configuration c the one in effect: it removes the webhook
// configuration and the policy and waits until pods come back unmutated,
// then registers the webhook (or creates the policy and its binding) and
// waits until they come back mutated. Going through "no webhook" every time
// tells the configurations apart. It returns the pod the API server
// admitted.
func activate(ctx context.Context, cp *framework.ControlPlane, client kubernetes.Interface, c string, hooks map[string]*webhook, pol *export.Policy, caBundle []byte, pod *corev1.Pod) (*corev1.Pod, error) {
	if err := deactivate(ctx, cp, client, pod); err != nil {
		return nil, err
	}
	switch c {
	case none:
		return cp.DryRunCreate(ctx, pod)
	case policy:
		if err := createPolicy(ctx, client, pol); err != nil {
			return nil, err
		}
	default:
		if err := createWebhookConfig(ctx, client, hooks[c].url, caBundle); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var got *corev1.Pod
	err := cp.WaitForDryRun(wctx, pod, func(p *corev1.Pod, err error) bool {
		got = p
		return err == nil && p.Annotations[defaults.DefaultedAnnotation] != ""
	})
	return got, err
}

// createPolicy creates the policy and its binding.
func createPolicy(ctx context.Context, client kubernetes.Interface, pol *export.Policy) error {
	api := client.AdmissionregistrationV1()
	if _, err := api.MutatingAdmissionPolicies().Create(ctx, pol.Policy, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the policy: %w", err)
	}
	if _, err := api.MutatingAdmissionPolicyBindings().Create(ctx, pol.Binding, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("creating the policy binding: %w", err)
	}
	return nil
}

// createWebhookConfig registers the webhook at url.
func createWebhookConfig(ctx context.Context, client kubernetes.Interface, url string, caBundle []byte) error {
	side, fail, never := admissionregistrationv1.SideEffectClassNone, admissionregistrationv1.Fail, admissionregistrationv1.NeverReinvocationPolicy
	equivalent, timeout := admissionregistrationv1.Equivalent, int32(5)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.secure-defaults.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{defaults.InjectKey: defaults.InjectEnabled}},
			SideEffects:             &side,
			FailurePolicy:           &fail,
			MatchPolicy:             &equivalent,
			TimeoutSeconds:          &timeout,
			ReinvocationPolicy:      &never,
			AdmissionReviewVersions: []string{"v1"},
		}},
	}
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	return nil
}

// deactivate removes the webhook configuration, the policy and its binding,
// and waits until they are out of effect.
func deactivate(ctx context.Context, cp *framework.ControlPlane, client kubernetes.Interface, pod *corev1.Pod) error {
	api := client.AdmissionregistrationV1()
	for _, del := range []func() error{
		func() error {
			return api.MutatingWebhookConfigurations().Delete(ctx, webhookConfigName, metav1.DeleteOptions{})
		},
		func() error {
			return api.MutatingAdmissionPolicyBindings().Delete(ctx, export.DefaultName, metav1.DeleteOptions{})
		},
		func() error {
			return api.MutatingAdmissionPolicies().Delete(ctx, export.DefaultName, metav1.DeleteOptions{})
		},
	} {
		if err := del(); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return cp.WaitForDryRun(wctx, pod, func(p *corev1.Pod, err error) bool {
		return err == nil && p.Annotations[defaults.DefaultedAnnotation] == ""
	})
}

// creates runs clients goroutines that each make n dry-run creates of pod,
// one after another, and returns every create's latency.
func creates(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod, clients, n int) ([]time.Duration, error) {
	out := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			opts := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
			for range n {
				p := pod.DeepCopy()
				start := time.Now()
				_, err := client.CoreV1().Pods(p.Namespace).Create(ctx, p, opts)
				out[c] = append(out[c], time.Since(start))
				if err != nil {
					errs[c] = err
					return
				}
			}
		})
	}
	wg.Wait()
	var all []time.Duration
	for c := range clients {
		if errs[c] != nil {
			return nil, errs[c]
		}
		all = append(all, out[c]...)
	}
	return all, nil
}

// sameDefaults reports whether a and b carry the same defaults.
func sameDefaults(a, b *corev1.Pod) bool {
	if a == nil || b == nil {
		return false
	}
	a, b = tokenNamed(a), tokenNamed(b)
	if a.Annotations[defaults.DefaultedAnnotation] != b.Annotations[defaults.DefaultedAnnotation] ||
		!apiequality.Semantic.DeepEqual(a.Spec.SecurityContext, b.Spec.SecurityContext) ||
		!apiequality.Semantic.DeepEqual(a.Spec.Volumes, b.Spec.Volumes) ||
		len(a.Spec.Containers) != len(b.Spec.Containers) {
		return false
	}
	for i := range a.Spec.Containers {
		if !apiequality.Semantic.DeepEqual(a.Spec.Containers[i].SecurityContext, b.Spec.Containers[i].SecurityContext) ||
			!apiequality.Semantic.DeepEqual(a.Spec.Containers[i].VolumeMounts, b.Spec.Containers[i].VolumeMounts) {
			return false
		}
	}
	return true
}

// tokenNamed returns a copy of p with the randomly named service-account
// token volume renamed to a fixed name.
func tokenNamed(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	fix := func(name *string) {
		if strings.HasPrefix(*name, "kube-api-access-") {
			*name = "kube-api-access"
		}
	}
	for i := range p.Spec.Volumes {
		fix(&p.Spec.Volumes[i].Name)
	}
	for i := range p.Spec.Containers {
		for j := range p.Spec.Containers[i].VolumeMounts {
			fix(&p.Spec.Containers[i].VolumeMounts[j].Name)
		}
	}
	return p
}

// quantile of sorted d.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := int(q * float64(len(d)-1))
	return d[i]
}
