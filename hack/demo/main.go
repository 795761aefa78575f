// Command demo is `make demo` (hack/demo.sh runs it): on a throwaway local
// cluster it shows what the webhook does to pods, and — when it runs as root
// with containerd installed — what the pods then see from inside.
//
// It starts etcd, kube-apiserver and, as root, containerd and a kubelet
// (e2e/framework, the launcher the e2e suite and the benchmarks use); builds
// the project's image the way the Dockerfile does and runs the webhook from
// it as a pod with the shipped securityContext (without a kubelet: as a
// process); registers it; creates a namespace that opts in and enforces Pod
// Security "restricted", creates a pod from each Deployment's template of
// the example manifest there (there is no controller-manager to do it) and
// prints what the webhook added. With a kubelet the pods run — the example
// images are replaced by the probe image, which reports its uid, gid,
// capabilities, no_new_privs, seccomp mode and whether /tmp and / are
// writable — and the same pods run in a namespace without the webhook for
// comparison. Last, the unhardened pod is shown rejected in a restricted
// namespace that did not opt in. Everything stops at the end, also on
// failure or Ctrl-C, and the host is left as it was.
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
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/e2e/framework/images"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/manifest"
)

const psaEnforce = "pod-security.kubernetes.io/enforce"

func main() {
	var o options
	flag.StringVar(&o.manifest, "f", "examples/deployment.yaml", "manifest whose Deployments to create pods from")
	flag.BoolVar(&o.noNode, "no-node", false, "do not start containerd and a kubelet: admission only (the default when not root)")
	flag.BoolVar(&o.keep, "keep", os.Getenv("SECURE_DEFAULTS_DEMO_KEEP") != "", "keep the working directory (logs, kubeconfig) afterwards")
	flag.Parse()
	os.Exit(demo(o))
}

type options struct {
	manifest     string
	noNode, keep bool
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func demo(o options) int {
	defer framework.StopAll()
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
			return 130
		}
		return 1
	}
	step("done in %s; everything it started is stopped", time.Since(start).Round(time.Second))
	return 0
}

func run(ctx context.Context, o options) (err error) {
	deployments, err := readDeployments(o.manifest)
	if err != nil {
		return err
	}
	root, err := framework.RepoRoot()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "secure-defaults-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if o.keep || err != nil {
			fmt.Fprintln(os.Stderr, "demo: working directory kept:", work)
			return
		}
		os.RemoveAll(work)
	}()

	withNode := !o.noNode
	if withNode && os.Geteuid() != 0 {
		step("not root: no kubelet (it mounts, sets cgroups and sysctls); showing admission only")
		withNode = false
	}

	step("kube-apiserver, etcd, kubectl and kubelet v1.37.2 (built once into a cache; the first time takes 10-15 minutes)")
	bins, err := framework.BinDir(ctx)
	if err != nil {
		return err
	}

	opts := framework.Options{BinDir: bins, Dir: work + "/cluster", KeepDir: o.keep}
	var reg *images.Registry
	var refs *images.Refs
	if withNode {
		step("building the probe, pause and secure-defaults images (static Go binaries, no Docker) into a registry on 127.0.0.1")
		if reg, err = images.StartRegistry(); err != nil {
			return err
		}
		defer reg.Close()
		if refs, err = images.PushTestImages(ctx, reg, root, work); err != nil {
			return err
		}
		opts.Node = &framework.NodeOptions{
			SandboxImage:        refs.Pause,
			PlainHTTPRegistries: []string{reg.Host},
			Logf:                func(f string, a ...any) { step(f, a...) },
		}
		step("starting etcd, kube-apiserver, containerd and a kubelet on loopback")
	} else {
		step("starting etcd and kube-apiserver on loopback")
	}
	cp, err := framework.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			cp.KeepDir()
			cp.DumpLogs(os.Stderr, 15)
		}
		if stopErr := cp.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
	}()

	cert, err := framework.GenerateServingCert(work, "127.0.0.1")
	if err != nil {
		return err
	}
	ports, err := framework.FreePorts(2)
	if err != nil {
		return err
	}
	if withNode {
		ref, err := images.Project(ctx, reg, root, work, "-s -w")
		if err != nil {
			return err
		}
		step("running the webhook from its image (%s) as a pod with the shipped securityContext", ref)
		pod, err := cp.StartWebhookPod(ctx, framework.WebhookPodOptions{Image: ref, Port: ports[0], MetricsPort: ports[1], Cert: cert})
		if err != nil {
			return err
		}
		fmt.Printf("  pod %s/%s Ready, serving https://127.0.0.1:%d/mutate\n", pod.Namespace, pod.Name, ports[0])
		fmt.Printf("  container securityContext: %s\n", flow(pod.Spec.Containers[0].SecurityContext))
	} else {
		step("starting the webhook as a process")
		bin, err := framework.GoBuild(ctx, work, "./cmd/secure-defaults")
		if err != nil {
			return err
		}
		if _, err := framework.StartProcess(ctx, framework.ProcessOptions{
			Name: "secure-defaults", Path: bin, LogDir: work,
			Args: []string{"serve", fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]), fmt.Sprintf("--metrics-listen=127.0.0.1:%d", ports[1]),
				"--tls-cert-file=" + cert.CertFile, "--tls-private-key-file=" + cert.KeyFile},
			Ready: framework.HTTPOK(fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1])),
		}); err != nil {
			return err
		}
	}
	step("registering the webhook and creating the pods of %s", o.manifest)
	return show(ctx, cp, fmt.Sprintf("https://127.0.0.1:%d/mutate", ports[0]), cert.CAPEM, deployments, refs, os.Stdout)
}

func show(ctx context.Context, cp *framework.ControlPlane, webhookURL string, ca []byte, deployments []*appsv1.Deployment, refs *images.Refs, out io.Writer) error {
	client := cp.Client
	if _, err := client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, webhookConfig(webhookURL, ca), metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	optedIn, err := createNamespace(ctx, cp, "demo", map[string]string{defaults.InjectKey: defaults.InjectEnabled, psaEnforce: "restricted"})
	if err != nil {
		return err
	}
	plain, err := createNamespace(ctx, cp, "demo-no-opt-in", map[string]string{psaEnforce: "restricted"})
	if err != nil {
		return err
	}
	if err := waitEffective(ctx, cp, optedIn); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nNamespace %q: labels %s=%s, %s=restricted\n", optedIn, defaults.InjectKey, defaults.InjectEnabled, psaEnforce)
	if refs != nil {
		fmt.Fprintf(out, "  (the example images are not available offline: every container runs the probe image, user %d)\n", images.NonRootUID)
	}

	var unhardened string
	for _, d := range deployments {
		pod := podFor(d, optedIn, refs)
		var created *corev1.Pod
		var o framework.PodOutcome
		if refs != nil {
			o = cp.RunPod(ctx, pod, 60*time.Second)
			if o.State == "Rejected" {
				return fmt.Errorf("the pod of Deployment %s was rejected in the opted-in namespace: %s", d.Name, o.Message)
			}
			created = o.Pod
		} else if created, err = client.CoreV1().Pods(optedIn).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("the pod of Deployment %s was rejected in the opted-in namespace: %w", d.Name, err)
		}
		showPod(out, d.Name, pod, created)
		if refs != nil {
			if err := showInside(ctx, cp, out, o); err != nil {
				return err
			}
			if unhardened == "" {
				if unhardened, err = createNamespace(ctx, cp, "demo-no-webhook", nil); err != nil {
					return err
				}
			}
			fmt.Fprintf(out, "    the same pod without the webhook (namespace %q, no Pod Security):\n", unhardened)
			if err := showInside(ctx, cp, out, cp.RunPod(ctx, podFor(d, unhardened, refs), 60*time.Second)); err != nil {
				return err
			}
		}
	}

	fmt.Fprintf(out, "\nNamespace %q: %s=restricted, no opt-in label\n", plain, psaEnforce)
	d := deployments[0]
	_, err = client.CoreV1().Pods(plain).Create(ctx, podFor(d, plain, refs), metav1.CreateOptions{})
	if err == nil {
		return fmt.Errorf("the unhardened pod of Deployment %s was admitted without the webhook; Pod Security should have rejected it", d.Name)
	}
	fmt.Fprintf(out, "  pod of Deployment %s: REJECTED by Pod Security \"restricted\"\n", d.Name)
	for _, v := range violations(err.Error()) {
		fmt.Fprintf(out, "    - %s\n", v)
	}
	return nil
}

// showInside prints how the pod ran and what each container reported.
func showInside(ctx context.Context, cp *framework.ControlPlane, out io.Writer, o framework.PodOutcome) error {
	if o.State != "Running" {
		return fmt.Errorf("pod %s did not run: %s", o.Pod.Name, o)
	}
	fmt.Fprintf(out, "    Running %s after create\n", o.Elapsed.Round(time.Millisecond))
	for _, c := range o.Pod.Spec.Containers {
		r, err := cp.ProbeReport(ctx, o.Pod, c.Name)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "    inside %s: %s\n", c.Name, r)
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

// podFor is the pod a ReplicaSet of d would create; with refs, bound to the
// node and running the probe image in every container.
func podFor(d *appsv1.Deployment, ns string, refs *images.Refs) *corev1.Pod {
	t := d.Spec.Template.DeepCopy()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: d.Name + "-", Namespace: ns, Labels: t.Labels, Annotations: t.Annotations},
		Spec:       t.Spec,
	}
	if refs != nil {
		p.Spec.NodeName = framework.NodeName
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](1)
		for i := range p.Spec.Containers {
			p.Spec.Containers[i].Image, p.Spec.Containers[i].Command, p.Spec.Containers[i].Args = refs.NonRoot, nil, nil
		}
	}
	return p
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

// createNamespace creates a namespace named prefix-XXXXX with what the
// controller-manager would add (framework.CreateNamespace).
func createNamespace(ctx context.Context, cp *framework.ControlPlane, prefix string, labels map[string]string) (string, error) {
	ns, err := cp.CreateNamespace(ctx, prefix+"-", labels)
	if err != nil {
		return "", err
	}
	return ns.Name, nil
}

// waitEffective waits until the API server calls the webhook: it learns of
// the new configuration through an informer, a moment after the write.
func waitEffective(ctx context.Context, cp *framework.ControlPlane, ns string) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: "probe"}}},
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := cp.WaitForMutation(ctx, probe, func(p *corev1.Pod) bool {
		return p.Annotations[defaults.DefaultedAnnotation] != ""
	}); err != nil {
		return fmt.Errorf("the webhook did not take effect within 30s: %w", err)
	}
	return nil
}

// showPod prints what the webhook changed between the submitted pod and the
// stored one: securityContexts and the volumes it added.
func showPod(out io.Writer, deployment string, before, after *corev1.Pod) {
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
