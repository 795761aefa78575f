//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
)

// testCorpusRuns runs every pod of the corpus on the kubelet, in a namespace
// without the opt-in and in one with it, once with a non-root image and once
// with a root image (no USER) in every container, and checks "never break":
// each pod that reaches Running (or Succeeded) without the webhook does so
// with it — or it is one of brokenOnPurpose, where the product chooses to
// stop it, which docs/e2e-pods.md lists. The table of outcomes is logged.
//
// The manifests' images are not available here, so every container runs the
// probe; to make the pods runnable on one loopback node, what the rules never
// read is adjusted in both namespaces alike (see runnable).
func testCorpusRuns(ctx context.Context, t *testing.T) {
	corpus := loadCorpus(t)
	variants := []struct{ name, image string }{
		{"non-root image", testImages.NonRoot},
		{"root image", testImages.RootEmpty},
	}
	type row struct {
		where, variant string
		without, with  framework.PodOutcome
	}
	var rows []row
	for _, v := range variants {
		plain := namespace(ctx, t, "corpus-run-plain-", false, "")
		optedIn := namespace(ctx, t, "corpus-run-optin-", true, "")
		if err := waitEffective(ctx, optedIn); err != nil {
			t.Fatal(err)
		}
		// One namespace at a time: host ports and host networking clash
		// when the same pod runs twice at once.
		byNS := map[string][]framework.PodOutcome{}
		for _, ns := range []string{plain, optedIn} {
			var pods []*corev1.Pod
			for _, cp := range corpus {
				p, err := runnable(ctx, cp, ns, v.image)
				if err != nil {
					t.Fatalf("%s: %v", cp.where, err)
				}
				pods = append(pods, p)
			}
			byNS[ns] = controlPlane.RunPods(ctx, pods, 90*time.Second)
			controlPlane.DeletePods(ctx, byNS[ns])
			if err := waitNoPods(ctx, ns); err != nil {
				t.Fatal(err)
			}
		}
		for i, cp := range corpus {
			rows = append(rows, row{cp.where, v.name, byNS[plain][i], byNS[optedIn][i]})
		}
	}

	var table strings.Builder
	fmt.Fprintf(&table, "| pod | image | without the webhook | with it |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&table, "| %s | %s | %s | %s |\n", r.where, r.variant, short(r.without), short(r.with))
	}
	t.Logf("corpus pods on the kubelet:\n%s", table.String())

	for _, r := range rows {
		if !r.without.OK() || r.with.OK() {
			continue
		}
		key := r.where + " / " + r.variant
		if why, ok := brokenOnPurpose(r.where, r.variant, r.with); ok {
			t.Logf("broken on purpose: %s: %s (%s)", key, r.with, why)
			continue
		}
		t.Errorf("broke a pod that runs without the webhook: %s: without: %s; with: %s", key, r.without, r.with)
	}
	for _, r := range rows {
		if r.with.OK() && !r.without.OK() {
			t.Logf("runs only with the webhook: %s / %s: without: %s", r.where, r.variant, r.without)
		}
	}
}

// brokenOnPurpose reports whether the webhook stops a pod by the product's
// choice, documented in docs/e2e-pods.md: runAsNonRoot on an image that runs
// as root makes the kubelet refuse the container. Nothing else is accepted.
func brokenOnPurpose(where, variant string, with framework.PodOutcome) (string, bool) {
	if variant == "root image" && with.Reason == "CreateContainerConfigError" &&
		strings.Contains(with.Message, "container has runAsNonRoot and image will run as root") {
		return "run-as-non-root on a root image; opt out or set runAsUser", true
	}
	return "", false
}

func short(o framework.PodOutcome) string {
	switch o.State {
	case "Running", "Succeeded":
		return o.State
	}
	msg := o.Message
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return fmt.Sprintf("%s %s: %s", o.State, o.Reason, strings.ReplaceAll(msg, "|", "/"))
}

// runnable makes the corpus pod cp creatable and runnable in ns on the one
// node, the same way with and without the webhook:
//   - every container runs image (the probe): init containers report and
//     exit, others report and wait; commands, probes and lifecycle hooks,
//     which need the real image, go;
//   - resources go (dozens of pods share two CPUs), and so do scheduling
//     fields the kubelet would reject on a one-node cluster (affinity,
//     priorityClassName);
//   - persistentVolumeClaim volumes, and hostPath volumes that would create
//     their path, become emptyDirs (no storage provisioner; the tests create
//     nothing on the host);
//   - the ConfigMaps, Secrets and ServiceAccount the pod names are created,
//     with a placeholder value for every key it reads, as its chart would.
func runnable(ctx context.Context, cp corpusPod, ns, image string) (*corev1.Pod, error) {
	p := forCreate(cp.input, ns, cp.where)
	s := &p.Spec
	s.NodeName = framework.NodeName
	s.Affinity, s.PriorityClassName, s.Priority, s.SchedulerName = nil, "", nil, ""
	s.TopologySpreadConstraints, s.EphemeralContainers = nil, nil
	s.TerminationGracePeriodSeconds = new(int64(1))
	fix := func(c *corev1.Container, init bool) {
		c.Image, c.Command, c.Args = image, nil, nil
		if init && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			c.Args = []string{"-exit"}
		}
		c.Resources = corev1.ResourceRequirements{}
		c.LivenessProbe, c.ReadinessProbe, c.StartupProbe, c.Lifecycle = nil, nil, nil, nil
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	for i := range s.InitContainers {
		fix(&s.InitContainers[i], true)
	}
	for i := range s.Containers {
		fix(&s.Containers[i], false)
	}
	configMaps, secrets := keys{}, keys{}
	for i := range s.Volumes {
		v := &s.Volumes[i].VolumeSource
		switch {
		case v.PersistentVolumeClaim != nil, v.HostPath != nil && creates(v.HostPath):
			*v = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		case v.ConfigMap != nil:
			configMaps.add(v.ConfigMap.Name, "")
		case v.Secret != nil:
			secrets.add(v.Secret.SecretName, "")
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				if src.ConfigMap != nil {
					configMaps.add(src.ConfigMap.Name, "")
				}
				if src.Secret != nil {
					secrets.add(src.Secret.Name, "")
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container(nil), s.InitContainers...), s.Containers...) {
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				configMaps.add(e.ConfigMapRef.Name, "")
			}
			if e.SecretRef != nil {
				secrets.add(e.SecretRef.Name, "")
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				configMaps.add(e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secrets.add(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
		}
	}
	for _, name := range sortedKeys(configMaps) {
		_, err := controlPlane.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: configMaps.values(name)}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	for _, name := range sortedKeys(secrets) {
		_, err := controlPlane.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: secrets.values(name)}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return nil, err
		}
	}
	if err := ensureServiceAccount(ctx, ns, s.ServiceAccountName); err != nil {
		return nil, err
	}
	return p, nil
}

// keys are the names of ConfigMaps or Secrets a pod reads, with the keys it
// reads from each.
type keys map[string]map[string]bool

func (k keys) add(name, key string) {
	if k[name] == nil {
		k[name] = map[string]bool{}
	}
	if key != "" {
		k[name][key] = true
	}
}

// values is a placeholder value for each key read from name.
func (k keys) values(name string) map[string]string {
	out := map[string]string{}
	for key := range k[name] {
		out[key] = "e2e-placeholder"
	}
	return out
}

// creates reports whether mounting the hostPath would create its path.
func creates(h *corev1.HostPathVolumeSource) bool {
	return h.Type != nil && (*h.Type == corev1.HostPathDirectoryOrCreate || *h.Type == corev1.HostPathFileOrCreate)
}

// waitNoPods waits until ns has no pods left.
func waitNoPods(ctx context.Context, ns string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		list, err := controlPlane.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err == nil && len(list.Items) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pods of %s still there after 60s: %v", ns, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
