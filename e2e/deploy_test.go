//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// deployFieldManager owns every field the test applies, for both renderings:
// applying the Helm rendering with the same manager on top of the kustomize
// one changes nothing exactly when the two agree (a field only one of them
// sets would be added or removed).
const deployFieldManager = "secure-defaults-e2e-deploy"

// deployKinds are the kinds deploy/base must render, in the order the test
// applies them (the order of its numbered files: kustomize sorts its output
// its own way, `kubectl apply -k` too).
var deployKinds = []string{
	"Namespace", "ServiceAccount", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding",
	"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
	"ConfigMap", "PriorityClass", "Deployment", "Service", "PodDisruptionBudget", "MutatingWebhookConfiguration",
	// The second ClusterRole: secure-defaults-auditor, for `secure-defaults audit`.
	"ClusterRole",
}

// TestDeployManifestsApply applies the rendered kustomize base and Helm chart
// to the real API server with server-side apply: every object must be
// accepted without a warning, the webhook's own pod must pass Pod Security
// "restricted" in the namespace the manifests create, and the Helm rendering
// must be a no-op on top of the kustomize one.
//
// The MutatingWebhookConfiguration is only ever applied with dryRun=All: its
// selector matches every opted-in namespace and its Service has no endpoints
// here, so with failurePolicy Fail a stored copy would reject pods in the
// namespaces the other tests create in this control plane.
func TestDeployManifestsApply(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	rendered := deployRender(ctx, t)
	kustomize := deployLoad(t, filepath.Join(rendered, "kustomize-base.yaml"))
	helm := deployLoad(t, filepath.Join(rendered, "helm-base.yaml"))

	// The chart leaves the Namespace out by default (Helm cannot own the
	// namespace it keeps its release in); everything else is in both.
	if got := deployKindsOf(kustomize); !deploySameElements(got, deployKinds) {
		t.Fatalf("kustomize base renders kinds %v, want %v", got, deployKinds)
	}
	wantHelm := slices.DeleteFunc(slices.Clone(deployKinds), func(k string) bool { return k == "Namespace" })
	if got := deployKindsOf(helm); !deploySameElements(got, wantHelm) {
		t.Fatalf("helm chart renders kinds %v, want %v", got, wantHelm)
	}
	// Apply in the base's order, with the webhook configuration last.
	deploySortByKind(kustomize)
	deploySortByKind(helm)

	a := newDeployApplier(t)
	stored := map[string]*unstructured.Unstructured{}

	parent := t
	applied := false
	t.Run("kustomize base", func(t *testing.T) {
		for _, obj := range kustomize {
			dryRun := obj.GetKind() == "MutatingWebhookConfiguration"
			got, warnings, err := a.apply(ctx, obj, dryRun)
			if err != nil {
				t.Fatalf("apply %s: %v", deployID(obj), err)
			}
			if len(warnings) > 0 {
				t.Errorf("apply %s: API server warnings %q", deployID(obj), warnings)
			}
			stored[deployID(obj)] = got
			// Delete what was stored once the whole test is done (the
			// subtests below need it), except the Namespace: without a
			// namespace controller it would stay Terminating and refuse
			// the next run's objects (go test -count=2).
			if !dryRun && obj.GetKind() != "Namespace" {
				parent.Cleanup(func() { a.delete(parent, obj) })
			}
		}
		applied = true
	})
	if !applied {
		t.FailNow()
	}

	t.Run("the webhook configuration registers the mutate and audit entries", func(t *testing.T) {
		for _, objs := range [][]*unstructured.Unstructured{kustomize, helm} {
			for _, obj := range objs {
				if obj.GetKind() != "MutatingWebhookConfiguration" {
					continue
				}
				// What the API server accepted (a dry-run apply), not the file.
				got := stored[deployID(obj)]
				if got == nil {
					got, _, _ = a.apply(ctx, obj, true)
				}
				deployCheckEntries(t, got)
			}
		}
	})

	// The API server checks a Deployment's pod template only as a warning
	// (asserted absent above); a Pod is what "enforce" rejects. There is no
	// controller-manager to create one, so create it from the template: with
	// the ServiceAccount, PriorityClass and namespace just applied, admission
	// sees what it would see in a cluster.
	pod, err := deployPodOf(kustomize)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the namespace enforces Pod Security restricted", func(t *testing.T) {
		// Without this the admitted pod below would prove nothing: the
		// same pod without its securityContexts must be refused.
		bare := pod.DeepCopy()
		bare.Spec.SecurityContext = nil
		for i := range bare.Spec.Containers {
			bare.Spec.Containers[i].SecurityContext = nil
		}
		_, err := controlPlane.DryRunCreate(ctx, bare)
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
			t.Fatalf("the Deployment's pod without securityContext in namespace %s: got %v, want Forbidden by Pod Security restricted", pod.Namespace, err)
		}
	})

	t.Run("the Deployment's pod is admitted under restricted", func(t *testing.T) {
		client, rec := warningClient(t, controlPlane.Config)
		got, err := client.CoreV1().Pods(pod.Namespace).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Fatalf("dry-run create of the Deployment's pod in %s: %v", pod.Namespace, err)
		}
		if w := rec.take(); len(w) > 0 {
			t.Errorf("the Deployment's pod: API server warnings %q", w)
		}
		if got.Spec.PriorityClassName != pod.Spec.PriorityClassName || got.Spec.Priority == nil || *got.Spec.Priority <= 0 {
			t.Errorf("the admitted pod has priorityClassName %q priority %v: want the shipped PriorityClass resolved", got.Spec.PriorityClassName, got.Spec.Priority)
		}
		// The built-in certificate mode talks to the API server.
		if !slices.ContainsFunc(got.Spec.Volumes, func(v corev1.Volume) bool { return v.Projected != nil }) {
			t.Errorf("the admitted pod has no projected service-account token volume: %+v", got.Spec.Volumes)
		}
	})

	t.Run("helm chart changes nothing on top", func(t *testing.T) {
		// Every object goes through the full apply path (defaulting,
		// validation, admission) as a dry run by the same field manager,
		// so the result is what the cluster would hold after `helm install`
		// over `kubectl apply -k`.
		for _, obj := range helm {
			got, warnings, err := a.apply(ctx, obj, true)
			if err != nil {
				t.Errorf("dry-run apply %s: %v", deployID(obj), err)
				continue
			}
			if len(warnings) > 0 {
				t.Errorf("dry-run apply %s: API server warnings %q", deployID(obj), warnings)
			}
			want, ok := stored[deployID(obj)]
			if !ok {
				t.Errorf("helm renders %s, which the kustomize base does not", deployID(obj))
				continue
			}
			if diff := cmp.Diff(deployComparable(want), deployComparable(got)); diff != "" {
				t.Errorf("%s as the API server holds it: kustomize (-) and helm (+) differ:\n%s", deployID(obj), diff)
			}
		}
	})

	// Image lookup with the webhook's own registry credentials behind the
	// NetworkPolicy (deploy/overlays/image-lookup and the chart's
	// ci/image-lookup-values.yaml, which verify-deploy found to agree): the
	// objects it changes are accepted, its pod is admitted under
	// restricted, and its configuration file loads and names the file the
	// Secret volume provides.
	t.Run("the image-lookup rendering is accepted and its configuration reads the mounted Secret", func(t *testing.T) {
		for _, file := range []string{"kustomize-image-lookup.yaml", "helm-image-lookup.yaml"} {
			objs := deployLoad(t, filepath.Join(rendered, file))
			deployCheckRegistryCredentials(t, file, objs)
			for _, obj := range objs {
				switch obj.GetKind() {
				case "ConfigMap", "Deployment", "NetworkPolicy":
				default:
					continue
				}
				_, warnings, err := a.apply(ctx, obj, true)
				if err != nil {
					t.Errorf("%s: dry-run apply %s: %v", file, deployID(obj), err)
				} else if len(warnings) > 0 {
					t.Errorf("%s: dry-run apply %s: API server warnings %q", file, deployID(obj), warnings)
				}
			}
			pod, err := deployPodOf(objs)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			got, err := controlPlane.DryRunCreate(ctx, pod)
			if err != nil {
				t.Fatalf("%s: dry-run create of the Deployment's pod: %v", file, err)
			}
			if !slices.ContainsFunc(got.Spec.Volumes, func(v corev1.Volume) bool {
				return v.Secret != nil && v.Secret.SecretName == "secure-defaults-registry"
			}) {
				t.Errorf("%s: the admitted pod has no volume of the Secret secure-defaults-registry: %+v", file, got.Spec.Volumes)
			}
		}
	})
}

// deployCheckRegistryCredentials checks that the configuration file among
// objs loads, turns image lookup on, and reads its docker config from the
// Secret secure-defaults-registry as the Deployment mounts it.
func deployCheckRegistryCredentials(t *testing.T, file string, objs []*unstructured.Unstructured) {
	t.Helper()
	pod, err := deployPodOf(objs)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var data string
	for _, o := range objs {
		if o.GetKind() == "ConfigMap" && o.GetName() == "secure-defaults-config" {
			data, _, _ = unstructured.NestedString(o.Object, "data", "config.yaml")
		}
	}
	cfg, err := config.Decode([]byte(data))
	if err != nil {
		t.Fatalf("%s: the configuration file does not load: %v\n%s", file, err, data)
	}
	il := cfg.ImageLookupConfig()
	if !il.Enabled {
		t.Errorf("%s: the configuration file leaves image lookup off", file)
	}
	var mounted string
	for _, v := range pod.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != "secure-defaults-registry" {
			continue
		}
		if v.Secret.Optional == nil || *v.Secret.Optional {
			t.Errorf("%s: volume %s: want optional: false", file, v.Name)
		}
		for _, c := range pod.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name && c.Name == "webhook" && m.ReadOnly {
					mounted = filepath.Join(m.MountPath, corev1.DockerConfigJsonKey)
				}
			}
		}
	}
	if mounted == "" || il.DockerConfig != mounted {
		t.Errorf("%s: imageLookup.dockerConfig is %q, want the .dockerconfigjson key of the Secret secure-defaults-registry mounted read-only in the webhook container (%q)", file, il.DockerConfig, mounted)
	}
}

// deployPodOf is the Pod the Deployment among objs would create.
func deployPodOf(objs []*unstructured.Unstructured) (*corev1.Pod, error) {
	i := slices.IndexFunc(objs, func(o *unstructured.Unstructured) bool { return o.GetKind() == "Deployment" })
	if i < 0 {
		return nil, errors.New("no Deployment rendered")
	}
	var d appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[i].Object, &d); err != nil {
		return nil, fmt.Errorf("decode the Deployment: %w", err)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: d.Name + "-",
			Namespace:    d.Namespace,
			Labels:       d.Spec.Template.Labels,
			Annotations:  d.Spec.Template.Annotations,
		},
		Spec: d.Spec.Template.Spec,
	}, nil
}

// deployRender runs hack/verify-deploy.sh (helm lint, helm template, kustomize
// build, and its own comparison) into a temporary directory.
func deployRender(ctx context.Context, t *testing.T) string {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "verify-deploy.sh"), out)
	cmd.Dir = root
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/verify-deploy.sh: %v\n%s", err, log.String())
	}
	t.Logf("rendered the manifests in %s", time.Since(start).Round(10*time.Millisecond))
	return out
}

// deployLoad reads every object of a multi-document YAML file.
func deployLoad(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(m) == 0 {
			continue // an empty document, e.g. before helm's first "---"
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	if len(objs) == 0 {
		t.Fatalf("%s holds no objects", path)
	}
	return objs
}

func deployKindsOf(objs []*unstructured.Unstructured) []string {
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetKind())
	}
	return kinds
}

func deploySameElements(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func deploySortByKind(objs []*unstructured.Unstructured) {
	slices.SortStableFunc(objs, func(x, y *unstructured.Unstructured) int {
		return slices.Index(deployKinds, x.GetKind()) - slices.Index(deployKinds, y.GetKind())
	})
}

func deployID(o *unstructured.Unstructured) string {
	id := o.GetKind() + " " + o.GetName()
	if o.GetNamespace() != "" {
		id = o.GetKind() + " " + o.GetNamespace() + "/" + o.GetName()
	}
	return id
}

// deployComparable drops what differs between two applies of the same
// configuration: bookkeeping, and the identity a dry-run create invents.
func deployComparable(o *unstructured.Unstructured) map[string]any {
	c := o.DeepCopy()
	for _, f := range []string{"managedFields", "uid", "creationTimestamp", "resourceVersion", "generation"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	return c.Object
}

// deployApplier applies objects with server-side apply through a dynamic
// client whose warnings it records per call.
type deployApplier struct {
	mapper   meta.RESTMapper
	client   dynamic.Interface
	warnings *warnings
}

func newDeployApplier(t *testing.T) *deployApplier {
	t.Helper()
	a := &deployApplier{warnings: &warnings{}}
	cfg := rest.CopyConfig(controlPlane.Config)
	cfg.WarningHandler = a.warnings
	var err error
	if a.client, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(controlPlane.Config)
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatalf("API discovery: %v", err)
	}
	a.mapper = restmapper.NewDiscoveryRESTMapper(groups)
	return a
}

func (a *deployApplier) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", deployID(obj), err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return a.client.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return a.client.Resource(m.Resource), nil
}

// apply server-side applies obj (as a dry run when dryRun) and returns the
// object the API server answered with and the warnings it sent.
func (a *deployApplier) apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, []string, error) {
	res, err := a.resource(obj)
	if err != nil {
		return nil, nil, err
	}
	body, err := obj.MarshalJSON()
	if err != nil {
		return nil, nil, err
	}
	opts := metav1.PatchOptions{FieldManager: deployFieldManager, Force: ptr.To(true)}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	a.warnings.take()
	got, err := res.Patch(ctx, obj.GetName(), types.ApplyPatchType, body, opts)
	return got, a.warnings.take(), err
}

// delete removes an object the test stored, leaving the control plane as the
// other tests expect it.
func (a *deployApplier) delete(t *testing.T, obj *unstructured.Unstructured) {
	res, err := a.resource(obj)
	if err != nil {
		t.Error(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := res.Delete(ctx, obj.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete %s: %v", deployID(obj), err)
	}
}

// deployCheckEntries checks that cfg, as the API server holds it, sends
// namespaces labelled inject=enabled to /mutate and inject=audit to /audit,
// the audit entry with failurePolicy Ignore.
func deployCheckEntries(t *testing.T, cfg *unstructured.Unstructured) {
	t.Helper()
	if cfg == nil {
		t.Fatal("no webhook configuration was stored")
	}
	hooks, _, _ := unstructured.NestedSlice(cfg.Object, "webhooks")
	want := map[string][3]string{ // name: label value, path, failurePolicy
		"pods.secure-defaults.dev":  {"enabled", "/mutate", "Fail"},
		"audit.secure-defaults.dev": {"audit", "/audit", "Ignore"},
	}
	for _, h := range hooks {
		m, _ := h.(map[string]any)
		name, _ := m["name"].(string)
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected webhook entry %q", name)
			continue
		}
		delete(want, name)
		label, _, _ := unstructured.NestedString(m, "namespaceSelector", "matchLabels", defaults.InjectKey)
		path, _, _ := unstructured.NestedString(m, "clientConfig", "service", "path")
		policy, _, _ := unstructured.NestedString(m, "failurePolicy")
		if got := [3]string{label, path, policy}; got != w {
			t.Errorf("entry %s: label, path, failurePolicy = %q, want %q", name, got, w)
		}
	}
	for name := range want {
		t.Errorf("%s: no webhook entry %q", deployID(cfg), name)
	}
}
