//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/internal/jsonpointer"
	sdconfig "github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// Namespace labels: the webhook's opt-in and the Pod Security enforce level.
const (
	psaEnforce    = "pod-security.kubernetes.io/enforce"
	psaRestricted = "restricted"
	psaPrivileged = "privileged"
)

// webhookConfigName names the MutatingWebhookConfiguration the tests register.
const webhookConfigName = "secure-defaults-e2e"

// webhook is the real secure-defaults binary running `serve` on loopback.
type webhook struct {
	bin, dir          string
	cert              *framework.ServingCert
	port, metricsPort int
	proc              *framework.Process
	client            *http.Client // trusts cert's CA
	// extraArgs are more flags of serve, e.g. --config.
	extraArgs []string
}

// buildWebhook builds the binary and a serving certificate for 127.0.0.1 into
// dir and picks the two ports; start runs it.
func buildWebhook(ctx context.Context, dir string) (*webhook, error) {
	bin, err := framework.GoBuild(ctx, dir, "./cmd/secure-defaults")
	if err != nil {
		return nil, err
	}
	cert, err := framework.GenerateServingCert(dir, "127.0.0.1")
	if err != nil {
		return nil, err
	}
	ports, err := framework.FreePorts(2)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cert.CAPEM) {
		return nil, errors.New("webhook CA does not parse")
	}
	return &webhook{
		bin: bin, dir: dir, cert: cert, port: ports[0], metricsPort: ports[1],
		client: &http.Client{
			Timeout:   10 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
		},
	}, nil
}

// start runs `secure-defaults serve` (again, after stop: same ports, so the
// registered configuration still points at it; counters start from zero).
func (w *webhook) start(ctx context.Context) error {
	p, err := framework.StartProcess(ctx, framework.ProcessOptions{
		Name: "secure-defaults",
		Path: w.bin,
		Args: append([]string{"serve",
			fmt.Sprintf("--listen=127.0.0.1:%d", w.port),
			fmt.Sprintf("--metrics-listen=127.0.0.1:%d", w.metricsPort),
			"--tls-cert-file=" + w.cert.CertFile,
			"--tls-private-key-file=" + w.cert.KeyFile,
		}, w.extraArgs...),
		LogDir: w.dir,
		Ready: func(ctx context.Context) error {
			_, err := w.get(ctx, "/readyz")
			return err
		},
	})
	if err != nil {
		return err
	}
	w.proc = p
	return nil
}

func (w *webhook) stop() error {
	if w.proc == nil {
		return nil
	}
	err := w.proc.Stop()
	w.proc = nil
	return err
}

func (w *webhook) url() string { return fmt.Sprintf("https://127.0.0.1:%d/mutate", w.port) }

// get fetches path from the metrics listener and fails unless it answers 200.
func (w *webhook) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", w.metricsPort, path), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return body, nil
}

// sampleLine matches a sample of the text exposition format without a
// timestamp: name{labels} value.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$`)

// metrics scrapes /metrics and returns the samples of the secure_defaults_
// counters, keyed by name{labels} as exposed (labels sorted by name, which
// is how client_golang writes them).
func (w *webhook) metrics(ctx context.Context) (map[string]float64, error) {
	body, err := w.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil || !strings.HasPrefix(m[1], "secure_defaults_") || !strings.HasSuffix(m[1], "_total") {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			return nil, fmt.Errorf("metrics line %q: %w", sc.Text(), err)
		}
		out[m[1]+m[2]] = v
	}
	return out, sc.Err()
}

// reviewCreate sends pod to POST /mutate as the API server would for a pod
// CREATE in pod.Namespace, and returns the response.
func (w *webhook) reviewCreate(ctx context.Context, pod *corev1.Pod) (*admissionv1.AdmissionResponse, error) {
	raw, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("e2e-direct-review"),
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: pod.Namespace,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	}
	body, err := json.Marshal(review)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url()+"?timeout=5s", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST /mutate: %s: %s", resp.Status, out)
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &answer); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if answer.Response == nil || answer.Response.UID != review.Request.UID {
		return nil, fmt.Errorf("answer without a response for uid %q: %s", review.Request.UID, out)
	}
	return answer.Response, nil
}

// webhookConfig is shaped like the shipped configuration: namespaces opt in
// with the label, no side effects, reinvoked when a later webhook changes the
// pod, pods CREATE and pods/ephemeralcontainers UPDATE, v1 reviews, 5s.
func webhookConfig(w *webhook, policy admissionregistrationv1.FailurePolicyType) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: webhookConfigName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pods.secure-defaults.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				URL:      ptr.To(w.url()),
				CABundle: w.cert.CAPEM,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{
				{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule: admissionregistrationv1.Rule{
						APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
						Scope: ptr.To(admissionregistrationv1.NamespacedScope),
					},
				},
				{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{
						APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods/ephemeralcontainers"},
						Scope: ptr.To(admissionregistrationv1.NamespacedScope),
					},
				},
			},
			NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{defaults.InjectKey: defaults.InjectEnabled},
			},
			FailurePolicy:           ptr.To(policy),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
}

// register creates the configuration, or replaces the one already there.
func register(ctx context.Context, cfg *admissionregistrationv1.MutatingWebhookConfiguration) error {
	api := controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	_, err := api.Create(ctx, cfg, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		old, err := api.Get(ctx, cfg.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cfg = cfg.DeepCopy()
		cfg.ResourceVersion = old.ResourceVersion
		_, err = api.Update(ctx, cfg, metav1.UpdateOptions{})
		return err
	}
	return err
}

// waitEffective waits until a dry-run create in the opted-in namespace ns
// comes back mutated by the webhook.
func waitEffective(ctx context.Context, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return controlPlane.WaitForMutation(ctx, plainPod(ns), func(p *corev1.Pod) bool {
		return p.Annotations[defaults.DefaultedAnnotation] != ""
	})
}

// namespace creates a fresh namespace with the Pod Security enforce level
// level ("" for none), opted in to the webhook when optIn.
func namespace(ctx context.Context, t *testing.T, prefix string, optIn bool, level string) string {
	t.Helper()
	labels := map[string]string{}
	if optIn {
		labels[defaults.InjectKey] = defaults.InjectEnabled
	}
	if level != "" {
		labels[psaEnforce] = level
	}
	ns, err := controlPlane.CreateNamespace(ctx, prefix, labels)
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// ensureServiceAccount creates the ServiceAccount a pod names, as a chart
// would next to its workload (the ServiceAccount admission plugin rejects
// pods whose account does not exist).
func ensureServiceAccount(ctx context.Context, ns, name string) error {
	if name == "" || name == "default" {
		return nil
	}
	_, err := controlPlane.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// isServiceAccountToken reports whether v is the projected token volume the
// ServiceAccount admission plugin adds to every pod.
func isServiceAccountToken(v corev1.Volume) bool {
	return strings.HasPrefix(v.Name, "kube-api-access-") && v.Projected != nil
}

// ruleOwnedDiff compares the parts of a pod the rules own — pod and container
// securityContexts, volumes and volumeMounts, the defaulted annotation —
// between the stored pod and the predicted one, and returns one line per
// difference. The API server's own additions (the ServiceAccount token volume
// and its mounts, an empty pod securityContext) are not differences. Volumes
// present in the prediction are compared by name only when the user wrote
// them (the API server defaults their modes), exactly when the rules added
// them (not in input).
func ruleOwnedDiff(stored, want, input *corev1.Pod) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }

	if a, b := stored.Annotations[defaults.DefaultedAnnotation], want.Annotations[defaults.DefaultedAnnotation]; a != b {
		add("annotation %s = %q, want %q", defaults.DefaultedAnnotation, a, b)
	}
	if a, b := podSC(stored), podSC(want); !apiequality.Semantic.DeepEqual(a, b) {
		add("pod securityContext = %s, want %s", toJSON(a), toJSON(b))
	}

	token := map[string]bool{}
	var volumes []corev1.Volume
	for _, v := range stored.Spec.Volumes {
		if isServiceAccountToken(v) && !hasVolume(want, v.Name) {
			token[v.Name] = true
			continue
		}
		volumes = append(volumes, v)
	}
	if a, b := volumeNames(volumes), volumeNames(want.Spec.Volumes); a != b {
		add("volumes = [%s], want [%s]", a, b)
	} else {
		for i, v := range want.Spec.Volumes {
			if !hasVolume(input, v.Name) && !apiequality.Semantic.DeepEqual(volumes[i], v) {
				add("added volume %s = %s, want %s", v.Name, toJSON(volumes[i]), toJSON(v))
			}
		}
	}

	got, exp := containers(stored), containers(want)
	if len(got) != len(exp) {
		add("%d containers, want %d", len(got), len(exp))
		return diffs
	}
	for i := range exp {
		g, e := got[i], exp[i]
		if g.name != e.name {
			add("container %d is %s, want %s", i, g.name, e.name)
			continue
		}
		gs, es := g.sc, e.sc
		if gs == nil {
			gs = &corev1.SecurityContext{}
		}
		if es == nil {
			es = &corev1.SecurityContext{}
		}
		if !apiequality.Semantic.DeepEqual(gs, es) {
			add("%s securityContext = %s, want %s", g.name, toJSON(gs), toJSON(es))
		}
		var mounts []corev1.VolumeMount
		for _, m := range g.mounts {
			if !token[m.Name] {
				mounts = append(mounts, m)
			}
		}
		if !apiequality.Semantic.DeepEqual(nilIfEmpty(mounts), nilIfEmpty(e.mounts)) {
			add("%s volumeMounts = %s, want %s", g.name, toJSON(mounts), toJSON(e.mounts))
		}
	}
	return diffs
}

func nilIfEmpty[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return s
}

func podSC(p *corev1.Pod) *corev1.PodSecurityContext {
	if p.Spec.SecurityContext == nil {
		return &corev1.PodSecurityContext{}
	}
	return p.Spec.SecurityContext
}

func hasVolume(p *corev1.Pod, name string) bool {
	for _, v := range p.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

func volumeNames(vs []corev1.Volume) string {
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return strings.Join(names, ",")
}

type containerView struct {
	name   string
	sc     *corev1.SecurityContext
	mounts []corev1.VolumeMount
}

// containers lists init, regular and ephemeral containers, in that order.
func containers(p *corev1.Pod) []containerView {
	var out []containerView
	for _, c := range p.Spec.InitContainers {
		out = append(out, containerView{"init container " + c.Name, c.SecurityContext, c.VolumeMounts})
	}
	for _, c := range p.Spec.Containers {
		out = append(out, containerView{"container " + c.Name, c.SecurityContext, c.VolumeMounts})
	}
	for _, c := range p.Spec.EphemeralContainers {
		out = append(out, containerView{"ephemeral container " + c.Name, c.SecurityContext, c.VolumeMounts})
	}
	return out
}

// keptUserFields returns the securityContext fields set in input that the
// stored pod does not carry with the same value: what the user wrote must
// survive admission untouched.
func keptUserFields(stored, input *corev1.Pod) []string {
	var diffs []string
	if input.Spec.SecurityContext != nil {
		diffs = append(diffs, subset("pod securityContext", toAny(input.Spec.SecurityContext), toAny(stored.Spec.SecurityContext))...)
	}
	got := containers(stored)
	for i, c := range containers(input) {
		if i >= len(got) || c.sc == nil {
			continue
		}
		diffs = append(diffs, subset(c.name+" securityContext", toAny(c.sc), toAny(got[i].sc))...)
	}
	return diffs
}

// subset lists the leaves of in that out lacks or holds with another value;
// arrays must keep their elements in order (they may grow at the end).
func subset(path string, in, out any) []string {
	switch a := in.(type) {
	case nil:
		return nil
	case map[string]any:
		b, _ := out.(map[string]any)
		var diffs []string
		for k, v := range a {
			diffs = append(diffs, subset(path+"."+k, v, b[k])...)
		}
		return diffs
	case []any:
		b, _ := out.([]any)
		if len(b) < len(a) {
			return []string{fmt.Sprintf("%s: %v became %v", path, a, out)}
		}
		var diffs []string
		for i := range a {
			diffs = append(diffs, subset(fmt.Sprintf("%s[%d]", path, i), a[i], b[i])...)
		}
		return diffs
	default:
		if a != out {
			return []string{fmt.Sprintf("%s: %v became %v", path, a, out)}
		}
		return nil
	}
}

func toAny(v any) any {
	var out any
	_ = json.Unmarshal([]byte(toJSON(v)), &out)
	return out
}

func toJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(b)
}

// predict returns what the rules make of pod, as the webhook would for a
// CREATE.
func predict(pod *corev1.Pod) (*corev1.Pod, defaults.Result) {
	out := pod.DeepCopy()
	res := defaults.Apply(out, defaults.Options{})
	return out, res
}

// timed runs f as a subtest and logs how long it took.
func timed(t *testing.T, name string, f func(t *testing.T)) bool {
	return t.Run(name, func(t *testing.T) {
		start := time.Now()
		defer func() { t.Logf("took %s", time.Since(start).Round(time.Millisecond)) }()
		f(t)
	})
}

// labelerKey is the label the second webhook of the reinvocation test adds.
const labelerKey = "e2e.secure-defaults.dev/labelled"

// labeler is a trivial mutating webhook served from the test: it adds
// labelerKey to every pod.
type labeler struct {
	url string
	ca  []byte
}

func startLabeler(t *testing.T) (*labeler, error) {
	return startPatcher(t, []byte(`[{"op":"add","path":"/metadata/labels/`+jsonpointer.Escape(labelerKey)+`","value":"true"}]`))
}

// startPatcher serves a webhook that answers every review with patch.
func startPatcher(t *testing.T, patch []byte) (*labeler, error) {
	cert, err := framework.GenerateServingCert(t.TempDir(), "127.0.0.1")
	if err != nil {
		return nil, err
	}
	pair, err := tls.LoadX509KeyPair(cert.CertFile, cert.KeyFile)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&review); err != nil || review.Request == nil {
			http.Error(rw, "bad review", http.StatusBadRequest)
			return
		}
		review.Response = &admissionv1.AdmissionResponse{
			UID: review.Request.UID, Allowed: true,
			PatchType: ptr.To(admissionv1.PatchTypeJSONPatch), Patch: patch,
		}
		review.Request = nil
		_ = json.NewEncoder(rw).Encode(review)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return &labeler{url: srv.URL + "/", ca: cert.CAPEM}, nil
}

// config registers the labeler after ours (configurations are called in
// name order), never reinvoked itself, for pods in opted-in namespaces.
func (l *labeler) config() *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "zz-e2e-labeler"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:         "labeler.e2e.secure-defaults.dev",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr.To(l.url), CABundle: l.ca},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				},
			}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{defaults.InjectKey: defaults.InjectEnabled}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.NeverReinvocationPolicy),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
}

// startWebhookWithConfig builds the binary and starts it with a
// configuration file holding config (its fields, after apiVersion and kind),
// registered for opted-in namespaces with failurePolicy Fail; the test's
// cleanup unregisters and stops it. It returns the webhook and the file.
func startWebhookWithConfig(ctx context.Context, t *testing.T, config string) (*webhook, string) {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgFile, []byte("apiVersion: "+sdconfig.APIVersion+"\nkind: Configuration\n"+config), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := buildWebhook(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	w.extraArgs = []string{"--config=" + cfgFile}
	if err := w.start(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := webhookConfig(w, admissionregistrationv1.Fail)
	if err := register(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
		if err := w.stop(); err != nil {
			t.Errorf("stopping the webhook: %v", err)
		}
	})
	return w, cfgFile
}

// warnings records the warnings the API server sends (the Warning header,
// code 299): Pod Security's, the webhook's.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

// HandleWarningHeader implements rest.WarningHandler.
func (w *warnings) HandleWarningHeader(code int, _, text string) {
	if code != 299 || text == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, text)
}

// take returns the warnings recorded so far and forgets them.
func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.msgs
	w.msgs = nil
	return out
}

// warningClient returns a client of the cluster behind cfg that records
// the warnings of each response.
func warningClient(t *testing.T, cfg *rest.Config) (kubernetes.Interface, *warnings) {
	t.Helper()
	rec := &warnings{}
	rc := rest.CopyConfig(cfg)
	rc.WarningHandler = rec
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return client, rec
}
