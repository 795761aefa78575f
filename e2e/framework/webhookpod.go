package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// WebhookPodOptions configures StartWebhookPod.
type WebhookPodOptions struct {
	// Image is the project's image (images.Project).
	Image string
	// Port and MetricsPort are the 127.0.0.1 ports of the webhook and of
	// /metrics, /readyz (the pod uses the host's network).
	Port, MetricsPort int
	// Cert is the serving certificate, given to the pod in a Secret.
	Cert *ServingCert
}

// StartWebhookPod runs secure-defaults as a pod on the node, made from the
// shipped manifests of deploy/base — the namespace's labels, the
// PriorityClass, the ServiceAccount, and the Deployment's pod template with
// its securityContexts untouched — and waits until it is Ready. What differs
// from the shipped pod, and why:
//   - hostNetwork, and --listen/--metrics-listen on 127.0.0.1 ports: the
//     API server reaches it on loopback (no Service, no kube-proxy, and the
//     host has no address on the pods' bridge); the probes' port and host
//     follow. Pod Security "restricted" forbids host networking, so the
//     namespace enforces "privileged" (it still warns and audits at
//     "restricted"); the e2e deploy test shows the shipped pod admitted
//     under "restricted";
//   - --cert-mode=files with opts.Cert from a Secret volume, instead of the
//     built-in mode (tested on its own), which needs the shipped RBAC and
//     webhook configuration.
//
// It returns the running pod.
func (cp *ControlPlane) StartWebhookPod(ctx context.Context, opts WebhookPodOptions) (*corev1.Pod, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	var d appsv1.Deployment
	var pc schedulingv1.PriorityClass
	var shippedNS corev1.Namespace
	var cm corev1.ConfigMap
	for file, into := range map[string]any{"04-deployment.yaml": &d, "03-priorityclass.yaml": &pc, "00-namespace.yaml": &shippedNS, "03-configmap.yaml": &cm} {
		b, err := os.ReadFile(filepath.Join(root, "deploy", "base", file))
		if err != nil {
			return nil, fmt.Errorf("framework: %w", err)
		}
		if err := yaml.UnmarshalStrict(b, into); err != nil {
			return nil, fmt.Errorf("framework: deploy/base/%s: %w", file, err)
		}
	}
	if _, err := cp.Client.SchedulingV1().PriorityClasses().Create(ctx, &pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("framework: %w", err)
	}
	// hostNetwork (and with it hostPorts and the probes' host) is what
	// Pod Security forbids here, so the namespace cannot enforce
	// "restricted" as shipped; it still warns and audits at that level.
	labels := map[string]string{}
	for k, v := range shippedNS.Labels {
		labels[k] = v
	}
	labels["pod-security.kubernetes.io/enforce"] = "privileged"
	nsObj, err := cp.CreateNamespace(ctx, shippedNS.Name+"-", labels)
	if err != nil {
		return nil, err
	}
	ns := nsObj.Name
	cm.Namespace, cm.ResourceVersion = ns, ""
	if _, err := cp.Client.CoreV1().ConfigMaps(ns).Create(ctx, &cm, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	spec := d.Spec.Template.Spec.DeepCopy()
	if sa := spec.ServiceAccountName; sa != "" && sa != "default" {
		if _, err := cp.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("framework: %w", err)
		}
	}
	crt, err := os.ReadFile(opts.Cert.CertFile)
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	key, err := os.ReadFile(opts.Cert.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	const secret = "secure-defaults-tls"
	if _, err := cp.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secret},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": crt, "tls.key": key},
	}, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}

	const tlsDir = "/var/run/secure-defaults/tls"
	spec.NodeName = NodeName
	spec.HostNetwork = true
	c := &spec.Containers[0]
	c.Image = opts.Image
	// The shipped flags, but for the listeners and the certificate mode.
	var args []string
	for _, a := range c.Args {
		name, _, _ := strings.Cut(a, "=")
		switch name {
		case "--listen", "--metrics-listen", "--cert-mode", "--cert-namespace", "--tls-cert-file", "--tls-private-key-file":
			continue
		}
		args = append(args, a)
	}
	c.Args = append(args,
		fmt.Sprintf("--listen=127.0.0.1:%d", opts.Port),
		fmt.Sprintf("--metrics-listen=127.0.0.1:%d", opts.MetricsPort),
		"--tls-cert-file="+tlsDir+"/tls.crt",
		"--tls-private-key-file="+tlsDir+"/tls.key",
	)
	for i := range c.Ports {
		switch c.Ports[i].Name {
		case "webhook":
			c.Ports[i].ContainerPort = int32(opts.Port)
		case "metrics":
			c.Ports[i].ContainerPort = int32(opts.MetricsPort)
		}
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe} {
		if p != nil && p.HTTPGet != nil {
			p.HTTPGet.Host = "127.0.0.1"
			p.HTTPGet.Port = intstr.FromInt(opts.MetricsPort)
		}
	}
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: "e2e-tls", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}})
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "e2e-tls", MountPath: tlsDir, ReadOnly: true})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "secure-defaults-", Namespace: ns, Labels: d.Spec.Template.Labels},
		Spec:       *spec,
	}
	o := cp.RunPod(ctx, pod, 90*time.Second)
	if o.State != "Running" {
		return nil, fmt.Errorf("framework: the webhook pod did not run: %s", o)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := cp.Client.CoreV1().Pods(ns).Get(ctx, o.Pod.Name, metav1.GetOptions{})
		if err == nil && podReady(p) {
			return p, nil
		}
		if time.Now().After(deadline) {
			why := ""
			if p != nil {
				why = PendingWhy(p)
			}
			log, _ := cp.Client.CoreV1().Pods(ns).GetLogs(o.Pod.Name, &corev1.PodLogOptions{Container: c.Name, TailLines: ptr.To[int64](20)}).DoRaw(ctx)
			return nil, fmt.Errorf("framework: the webhook pod %s/%s is not Ready after 30s: %v %s; its log:\n%s", ns, o.Pod.Name, err, why, log)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
