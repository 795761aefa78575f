//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// auditPolicy logs every pod request at Metadata level, which carries the
// webhooks' audit annotations.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    resources: [{group: "", resources: ["pods"]}]
  - level: None
`

// TestAuditNamespace runs its own API server with an audit log, and the real
// webhook behind the two entries the shipped configuration has: a pod created
// in a namespace labelled secure-defaults.dev/inject=audit is stored exactly
// as sent, the create response carries the "would set" warnings, and the
// audit log records would-default with the rules that an enabled namespace
// applies to the same pod.
func TestAuditNamespace(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	auditLog := filepath.Join(dir, "audit.log")
	cp, err := framework.Start(ctx, framework.Options{
		BinDir:        controlPlane.BinDir,
		APIServerArgs: []string{"--audit-policy-file=" + policy, "--audit-log-path=" + auditLog, "--audit-log-mode=blocking"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			cp.KeepDir()
			cp.DumpLogs(os.Stderr, 40)
		}
		if err := cp.Stop(); err != nil {
			t.Errorf("stopping the audit control plane: %v", err)
		}
	})

	w, err := buildWebhook(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.stop() })

	// The shipped configuration's two entries, pointing at the webhook.
	cfg := webhookConfig(w, admissionregistrationv1.Fail)
	audit := *cfg.Webhooks[0].DeepCopy()
	audit.Name = "audit.secure-defaults.dev"
	audit.ClientConfig.URL = ptr.To(strings.TrimSuffix(w.url(), "/mutate") + "/audit")
	audit.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{defaults.InjectKey: "audit"}}
	audit.FailurePolicy = ptr.To(admissionregistrationv1.Ignore)
	audit.ReinvocationPolicy = ptr.To(admissionregistrationv1.NeverReinvocationPolicy)
	cfg.Webhooks = append(cfg.Webhooks, audit)
	if _, err := cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	auditNS, err := cp.CreateNamespace(ctx, "audit-", map[string]string{defaults.InjectKey: "audit"})
	if err != nil {
		t.Fatal(err)
	}
	enabledNS, err := cp.CreateNamespace(ctx, "enabled-", map[string]string{defaults.InjectKey: defaults.InjectEnabled})
	if err != nil {
		t.Fatal(err)
	}

	// What enabled applies to the pod: the list audit must report.
	enabledPod := plainPod(enabledNS.Name)
	if err := cp.WaitForMutation(ctx, enabledPod, func(p *corev1.Pod) bool { return p.Annotations[defaults.DefaultedAnnotation] != "" }); err != nil {
		t.Fatalf("the enabled entry never took effect: %v", err)
	}
	mutated, err := cp.DryRunCreate(ctx, enabledPod)
	if err != nil {
		t.Fatal(err)
	}
	wantRules := mutated.Annotations[defaults.DefaultedAnnotation]

	// A client that records the warnings of each response.
	client, warned := warningClient(t, cp.Config)
	pods := client.CoreV1().Pods(auditNS.Name)
	sent := plainPod(auditNS.Name)
	sent.GenerateName, sent.Name = "", "audited" // a name the audit log records
	// The API server learns of the configuration through an informer: wait
	// for a dry run whose warnings show the audit entry answered.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := pods.Create(ctx, sent, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatal(err)
		}
		if hasWould(warned.take()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the audit entry never answered with warnings")
		}
		time.Sleep(200 * time.Millisecond)
	}

	created, err := pods.Create(ctx, sent, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := warned.take()
	if !hasWould(got) {
		t.Errorf("create response warnings %q: none says what would be set", got)
	}
	for _, want := range []string{"would set securityContext.runAsNonRoot: true on the pod", `would set securityContext.allowPrivilegeEscalation: false on container "app"`} {
		if !slices.Contains(got, want) {
			t.Errorf("create response warnings %q lack %q", got, want)
		}
	}
	if _, ok := created.Annotations[defaults.DefaultedAnnotation]; ok || (created.Spec.SecurityContext != nil && created.Spec.SecurityContext.RunAsNonRoot != nil) || created.Spec.Containers[0].SecurityContext != nil {
		t.Errorf("the audit namespace's pod was changed: annotations %v, pod securityContext %+v, container %+v",
			created.Annotations, created.Spec.SecurityContext, created.Spec.Containers[0].SecurityContext)
	}

	// The audit log: the create of that pod carries would-default.
	key := "audit.secure-defaults.dev/would-default"
	var found string
	for deadline := time.Now().Add(15 * time.Second); found == "" && time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		found, err = auditAnnotation(auditLog, auditNS.Name, created.Name, key)
		if err != nil {
			t.Fatal(err)
		}
	}
	if found != wantRules {
		t.Errorf("audit log %s = %q, want what the enabled namespace applied, %q", key, found, wantRules)
	}
}

func hasWould(ws []string) bool {
	for _, w := range ws {
		if strings.HasPrefix(w, "would set ") {
			return true
		}
	}
	return false
}

// auditAnnotation returns the annotation key of the audit event of the
// create of pod ns/name that completed, or "" when none is logged yet.
func auditAnnotation(path, ns, name, key string) (string, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Verb        string                                                   `json:"verb"`
			Stage       string                                                   `json:"stage"`
			ObjectRef   *struct{ Namespace, Name, Resource, Subresource string } `json:"objectRef"`
			Annotations map[string]string                                        `json:"annotations"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return "", fmt.Errorf("audit log line: %w", err)
		}
		if ev.Verb == "create" && ev.Stage == "ResponseComplete" && ev.ObjectRef != nil &&
			ev.ObjectRef.Namespace == ns && ev.ObjectRef.Name == name && ev.ObjectRef.Subresource == "" {
			return ev.Annotations[key], nil
		}
	}
	return "", sc.Err()
}
