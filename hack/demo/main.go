// Command demo is the client half of `make demo` (hack/demo.sh starts the
// control plane and the webhook, then runs it). It registers the webhook,
// creates an opted-in namespace with Pod Security "restricted", creates a pod
// from each Deployment's template in the example manifest (there is no
// controller-manager to do it), prints what the webhook added, and shows the
// same pod rejected in a restricted namespace that did not opt in.
//
// It exits non-zero when the cluster does not behave as the product promises.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/manifest"
)

const psaEnforce = "pod-security.kubernetes.io/enforce"

func main() {
	var o options
	flag.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig of the cluster (required)")
	flag.StringVar(&o.webhookURL, "webhook-url", "", "https URL of the webhook's /mutate (required)")
	flag.StringVar(&o.caFile, "ca-file", "", "PEM CA that signed the webhook's certificate (required)")
	flag.StringVar(&o.manifest, "f", "examples/deployment.yaml", "manifest whose Deployments to create pods from")
	flag.Parse()
	if o.kubeconfig == "" || o.webhookURL == "" || o.caFile == "" {
		fmt.Fprintln(os.Stderr, "demo: --kubeconfig, --webhook-url and --ca-file are required")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

type options struct {
	kubeconfig, webhookURL, caFile, manifest string
}

func run(ctx context.Context, o options, out io.Writer) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return err
	}
	deployments, err := readDeployments(o.manifest)
	if err != nil {
		return err
	}

	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, webhookConfig(o.webhookURL, ca), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	optedIn, err := createNamespace(ctx, client, "demo", map[string]string{defaults.InjectKey: defaults.InjectEnabled, psaEnforce: "restricted"})
	if err != nil {
		return err
	}
	plain, err := createNamespace(ctx, client, "demo-no-opt-in", map[string]string{psaEnforce: "restricted"})
	if err != nil {
		return err
	}
	if err := waitEffective(ctx, client, optedIn); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nNamespace %q: labels %s=%s, %s=restricted\n", optedIn, defaults.InjectKey, defaults.InjectEnabled, psaEnforce)

	for _, d := range deployments {
		pod := podFor(d, optedIn)
		created, err := client.CoreV1().Pods(optedIn).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("the pod of Deployment %s was rejected in the opted-in namespace: %w", d.Name, err)
		}
		show(out, d.Name, pod, created)
	}

	fmt.Fprintf(out, "\nNamespace %q: %s=restricted, no opt-in label\n", plain, psaEnforce)
	d := deployments[0]
	_, err = client.CoreV1().Pods(plain).Create(ctx, podFor(d, plain), metav1.CreateOptions{})
	if err == nil {
		return fmt.Errorf("the unhardened pod of Deployment %s was admitted without the webhook; Pod Security should have rejected it", d.Name)
	}
	fmt.Fprintf(out, "  pod of Deployment %s: REJECTED by Pod Security \"restricted\"\n", d.Name)
	for _, v := range violations(err.Error()) {
		fmt.Fprintf(out, "    - %s\n", v)
	}
	return nil
}

// readDeployments returns the Deployments of the manifest at path.
func readDeployments(path string) ([]*appsv1.Deployment, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs, err := manifest.Read(bytes.NewReader(src), path)
	if err != nil {
		return nil, err
	}
	var out []*appsv1.Deployment
	for _, doc := range docs {
		var meta metav1.TypeMeta
		if err := json.Unmarshal(doc.JSON, &meta); err != nil {
			return nil, err
		}
		if meta.Kind != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := json.Unmarshal(doc.JSON, d); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", path, doc.Index, err)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no Deployment", path)
	}
	return out, nil
}

// podFor is the pod a ReplicaSet of d would create.
func podFor(d *appsv1.Deployment, ns string) *corev1.Pod {
	t := d.Spec.Template.DeepCopy()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Namespace: ns, Labels: t.Labels, Annotations: t.Annotations},
		Spec:       t.Spec,
	}
}

// webhookConfig is shaped like the shipped MutatingWebhookConfiguration.
func webhookConfig(url string, ca []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	rule := func(op admissionregistrationv1.OperationType, resource string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{
			Operations: []admissionregistrationv1.OperationType{op},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{resource},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}
	}
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "secure-defaults"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.secure-defaults.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: ca},
			Rules:                   []admissionregistrationv1.RuleWithOperations{rule(admissionregistrationv1.Create, "pods"), rule(admissionregistrationv1.Update, "pods/ephemeralcontainers")},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{defaults.InjectKey: defaults.InjectEnabled}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Fail),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			ReinvocationPolicy:      ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
}

// createNamespace creates ns and its default ServiceAccount (no
// controller-manager runs to create it).
func createNamespace(ctx context.Context, client kubernetes.Interface, name string, labels map[string]string) (string, error) {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating namespace %s: %w", name, err)
	}
	if _, err := client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("creating the default ServiceAccount of %s: %w", name, err)
	}
	return name, nil
}

// waitEffective waits until the API server calls the webhook: it learns of
// the new configuration through an informer, a moment after the write.
func waitEffective(ctx context.Context, client kubernetes.Interface, ns string) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "probe"}}},
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := client.CoreV1().Pods(ns).Create(ctx, probe.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && got.Annotations[defaults.DefaultedAnnotation] != "" {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("pods come back unmutated")
			}
			return fmt.Errorf("the webhook did not take effect within 30s: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// show prints what the webhook changed between the submitted pod and the
// stored one: securityContexts and the volumes it added.
func show(out io.Writer, deployment string, before, after *corev1.Pod) {
	fmt.Fprintf(out, "\n  pod %s (from Deployment %s): ADMITTED by Pod Security \"restricted\"\n", after.Name, deployment)
	fmt.Fprintf(out, "    rules applied: %s\n", strings.ReplaceAll(after.Annotations[defaults.DefaultedAnnotation], ",", ", "))
	diff(out, "pod securityContext", before.Spec.SecurityContext, after.Spec.SecurityContext)
	for i, c := range after.Spec.Containers {
		diff(out, "container "+c.Name+" securityContext", before.Spec.Containers[i].SecurityContext, c.SecurityContext)
	}
	var added []string
	for _, v := range after.Spec.Volumes {
		if hasVolume(before, v.Name) || strings.HasPrefix(v.Name, "kube-api-access-") {
			continue // the user's, or the API server's service account token
		}
		line := v.Name + " " + flow(v.VolumeSource)
		for _, c := range after.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					line += fmt.Sprintf(", mounted at %s in %s", m.MountPath, c.Name)
				}
			}
		}
		added = append(added, line)
	}
	if len(added) == 0 {
		added = []string{"none"}
	}
	fmt.Fprintf(out, "    volumes added: %s\n", strings.Join(added, "; "))
}

func diff(out io.Writer, what string, before, after any) {
	b, a := flow(before), flow(after)
	if a == b {
		fmt.Fprintf(out, "    %s: %s (unchanged)\n", what, a)
		return
	}
	fmt.Fprintf(out, "    %s\n      before: %s\n      after:  %s\n", what, b, a)
}

func hasVolume(p *corev1.Pod, name string) bool {
	for _, v := range p.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}

// flow renders v as compact YAML flow style: {key: value, ...}, keys sorted.
func flow(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return render(x)
}

func render(x any) string {
	switch v := x.(type) {
	case nil:
		return "{}"
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + render(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = render(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	default:
		return fmt.Sprint(v)
	}
}

// violations splits Pod Security's rejection message into its items.
func violations(msg string) []string {
	const marker = `violates PodSecurity "restricted:latest": `
	i := strings.Index(msg, marker)
	if i < 0 {
		return []string{msg}
	}
	items := strings.Split(msg[i+len(marker):], "), ")
	for j := range items[:len(items)-1] {
		items[j] += ")"
	}
	return items
}
