package audit

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

func listKinds() map[schema.GroupVersionResource]string {
	m := map[schema.GroupVersionResource]string{namespacesGVR: "NamespaceList"}
	for _, k := range kinds {
		m[k.GVR] = k.Kind + "List"
	}
	return m
}

func toUnstructured(t *testing.T, obj runtime.Object, apiVersion, kind string) *unstructured.Unstructured {
	t.Helper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	return u
}

func ns(t *testing.T, name string, labels map[string]string) *unstructured.Unstructured {
	return toUnstructured(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, "v1", "Namespace")
}

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
}

func deployment(t *testing.T, namespace, name string, f func(*appsv1.Deployment)) *unstructured.Unstructured {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Spec: appsv1.DeploymentSpec{Template: template()}}
	if f != nil {
		f(d)
	}
	return toUnstructured(t, d, "apps/v1", "Deployment")
}

// controller returns the owner references of an object that kind's
// controller named name owns, kind written "group/version/Kind" or, for the
// kinds an audit reads, "Kind".
func controller(kind, name string) []metav1.OwnerReference {
	apiVersion := map[string]string{"Deployment": "apps/v1", "ReplicaSet": "apps/v1", "StatefulSet": "apps/v1", "DaemonSet": "apps/v1",
		"CronJob": "batch/v1", "Job": "batch/v1", "ReplicationController": "v1", "Node": "v1"}[kind]
	if i := strings.LastIndex(kind, "/"); i >= 0 {
		apiVersion, kind = kind[:i], kind[i+1:]
	}
	return []metav1.OwnerReference{{APIVersion: apiVersion, Kind: kind, Name: name, UID: "u", Controller: ptr.To(true)}}
}

// pager serves list requests in pages of opts.Limit, with the offset as
// continue token, as the API server pages (client-go's fake drops Limit and
// Continue), and counts the requests and the largest page served.
type pager struct {
	requests int
	largest  int
}

type lister interface {
	List(context.Context, metav1.ListOptions) (*unstructured.UnstructuredList, error)
}

func (p *pager) list(ctx context.Context, api lister, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	p.requests++
	all, err := api.List(ctx, metav1.ListOptions{LabelSelector: opts.LabelSelector})
	if err != nil {
		return nil, err
	}
	start := 0
	if c := opts.Continue; c != "" {
		if start, err = strconv.Atoi(c); err != nil {
			return nil, apierrors.NewBadRequest("bad continue token")
		}
	}
	end := len(all.Items)
	if l := int(opts.Limit); l > 0 && start+l < end {
		end = start + l
	}
	out := &unstructured.UnstructuredList{Object: all.Object}
	out.Items = all.Items[start:end]
	out.SetContinue("")
	if end < len(all.Items) {
		out.SetContinue(strconv.Itoa(end))
	}
	p.largest = max(p.largest, end-start)
	return out, nil
}

type pagingClient struct {
	dynamic.Interface
	p *pager
}

func (c pagingClient) Resource(gvr schema.GroupVersionResource) dynamic.NamespaceableResourceInterface {
	return pagingResource{c.Interface.Resource(gvr), c.p}
}

type pagingResource struct {
	dynamic.NamespaceableResourceInterface
	p *pager
}

func (r pagingResource) Namespace(ns string) dynamic.ResourceInterface {
	return pagingNamespaced{r.NamespaceableResourceInterface.Namespace(ns), r.p}
}

func (r pagingResource) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	return r.p.list(ctx, r.NamespaceableResourceInterface, opts)
}

type pagingNamespaced struct {
	dynamic.ResourceInterface
	p *pager
}

func (r pagingNamespaced) List(ctx context.Context, opts metav1.ListOptions) (*unstructured.UnstructuredList, error) {
	return r.p.list(ctx, r.ResourceInterface, opts)
}

// newFake returns client-go's fake dynamic client holding objs (for
// reactors), and the same wrapped to page as the API server does.
func newFake(objs ...runtime.Object) (*dynamicfake.FakeDynamicClient, pagingClient) {
	c := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds(), objs...)
	return c, pagingClient{c, &pager{}}
}

// forbid makes lists of resource in namespace ns ("" cluster-wide) forbidden.
func forbid(c *dynamicfake.FakeDynamicClient, resource, ns string) {
	c.PrependReactor("list", resource, func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetNamespace() != ns {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", fmt.Errorf("RBAC: no"))
	})
}

func TestRunPagesAndSkipsOwned(t *testing.T) {
	objs := []runtime.Object{
		ns(t, "team-a", map[string]string{defaults.InjectKey: defaults.InjectEnabled, podSecurityPrefix + "enforce": "restricted", "other": "x"}),
		ns(t, "team-b", nil),
	}
	for i := range 23 {
		objs = append(objs, deployment(t, "team-a", fmt.Sprintf("web-%02d", i), nil))
	}
	// Owned objects are their owner's: not audited.
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-00-abc", Namespace: "team-a", OwnerReferences: controller("Deployment", "web-00")}, Spec: appsv1.ReplicaSetSpec{Template: template()}}
	objs = append(objs, toUnstructured(t, rs, "apps/v1", "ReplicaSet"))
	ownedPod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-00-abc-x", Namespace: "team-a", OwnerReferences: controller("ReplicaSet", "web-00-abc")}, Spec: template().Spec}
	objs = append(objs, toUnstructured(t, ownedPod, "v1", "Pod"))
	ownedJob := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "nightly-1", Namespace: "team-b", OwnerReferences: controller("CronJob", "nightly")}, Spec: batchv1.JobSpec{Template: template()}}
	objs = append(objs, toUnstructured(t, ownedJob, "batch/v1", "Job"))
	// Top-level ones are.
	bareRS := rs.DeepCopy()
	bareRS.Name, bareRS.OwnerReferences = "legacy", nil
	objs = append(objs, toUnstructured(t, bareRS, "apps/v1", "ReplicaSet"))
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "team-b"}, Spec: template().Spec}
	bare.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	bare.Spec.Containers[0].SecurityContext = hardenedSC()
	objs = append(objs, toUnstructured(t, bare, "v1", "Pod"))
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "team-b"}, Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template()}}}}
	cron.Spec.JobTemplate.Spec.Template.Annotations = map[string]string{defaults.InjectKey: defaults.InjectDisabled}
	objs = append(objs, toUnstructured(t, cron, "batch/v1", "CronJob"))

	_, client := newFake(objs...)
	rep, err := Run(context.Background(), client, Options{AllNamespaces: true, PageSize: 5})
	if err != nil {
		t.Fatal(err)
	}
	if client.p.largest > 5 {
		t.Errorf("a page of %d objects was served; the run asked for more than its page size", client.p.largest)
	}
	// namespaces 1 + deployments 5 + 7 other kinds.
	if want := 1 + 5 + 7; client.p.requests != want {
		t.Errorf("%d list requests, want %d (23 Deployments in pages of 5)", client.p.requests, want)
	}
	if len(rep.Problems) != 0 {
		t.Errorf("problems: %+v", rep.Problems)
	}
	var names []string
	for _, w := range rep.Workloads {
		names = append(names, w.Namespace+"/"+w.Kind+"/"+w.Name)
	}
	if len(names) != 23+3 || names[0] != "team-a/Deployment/web-00" || names[23] != "team-a/ReplicaSet/legacy" || names[24] != "team-b/CronJob/nightly" || names[25] != "team-b/Pod/debug" {
		t.Errorf("workloads = %v", names)
	}
	a, b := rep.Namespaces[0], rep.Namespaces[1]
	wantA := Namespace{Name: "team-a", Inject: "enabled", OptedIn: true, PodSecurity: map[string]string{"enforce": "restricted"}, LabelsKnown: true,
		Counts: Counts{Workloads: 24, WouldChange: 24, RestrictedAfter: 24, StartUnknown: 24}}
	wantB := Namespace{Name: "team-b", PodSecurity: map[string]string{}, LabelsKnown: true,
		Counts: Counts{Workloads: 2, RestrictedBefore: 1, RestrictedAfter: 1, OptedOut: 1}}
	if fmt.Sprint(a) != fmt.Sprint(wantA) || fmt.Sprint(b) != fmt.Sprint(wantB) {
		t.Errorf("namespaces:\n got %+v\n     %+v\nwant %+v\n     %+v", a, b, wantA, wantB)
	}
	if rep.Totals.Workloads != 26 || rep.Totals.WouldChange != 24 || rep.Totals.OptedOut != 1 {
		t.Errorf("totals = %+v", rep.Totals)
	}
}

// TestRunAuditsObjectsOfOtherControllers: an object is left to its
// controller only when the audit reads the controller's kind; the
// ReplicaSets of a rollout tool and the Pods of an operator hold the only pod
// spec there is and are audited; mirror pods are left out.
func TestRunAuditsObjectsOfOtherControllers(t *testing.T) {
	objs := []runtime.Object{ns(t, "team-a", nil)}
	pod := func(name string, owner []metav1.OwnerReference) {
		objs = append(objs, toUnstructured(t, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team-a", OwnerReferences: owner}, Spec: template().Spec}, "v1", "Pod"))
	}
	pod("of-a-job", controller("Job", "j"))
	pod("of-a-statefulset", controller("StatefulSet", "s"))
	pod("mirror", controller("Node", "node-1"))
	pod("of-a-taskrun", controller("tekton.dev/v1/TaskRun", "build"))
	// A kind of the same name in another group is not the audited kind.
	pod("of-another-job", controller("example.com/v1/Job", "j"))
	// Owned, but not as controller: audited.
	plainOwner := controller("Job", "j")
	plainOwner[0].Controller = nil
	pod("owned-not-controlled", plainOwner)
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "canary-7f9", Namespace: "team-a", OwnerReferences: controller("argoproj.io/v1alpha1/Rollout", "canary")}, Spec: appsv1.ReplicaSetSpec{Template: template()}}
	objs = append(objs, toUnstructured(t, rs, "apps/v1", "ReplicaSet"))
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "migrate", Namespace: "team-a", OwnerReferences: controller("example.com/v1/Migration", "m")}, Spec: batchv1.JobSpec{Template: template()}}
	objs = append(objs, toUnstructured(t, job, "batch/v1", "Job"))

	_, client := newFake(objs...)
	rep, err := Run(context.Background(), client, Options{Namespaces: []string{"team-a"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range rep.Workloads {
		got = append(got, w.Kind+"/"+w.Name)
	}
	want := []string{"Job/migrate", "Pod/of-a-taskrun", "Pod/of-another-job", "Pod/owned-not-controlled", "ReplicaSet/canary-7f9"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("audited %v, want %v", got, want)
	}
}

func TestRunSelector(t *testing.T) {
	_, client := newFake(
		ns(t, "team-a", nil),
		deployment(t, "team-a", "web", func(d *appsv1.Deployment) { d.Labels = map[string]string{"tier": "web"} }),
		deployment(t, "team-a", "db", func(d *appsv1.Deployment) { d.Labels = map[string]string{"tier": "db"} }),
	)
	rep, err := Run(context.Background(), client, Options{Namespaces: []string{"team-a"}, Selector: "tier=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Workloads) != 1 || rep.Workloads[0].Name != "web" {
		t.Errorf("workloads = %+v, want only web", rep.Workloads)
	}
}

func TestRunForbiddenIsReportedAndSkipped(t *testing.T) {
	objs := []runtime.Object{
		ns(t, "team-a", nil), ns(t, "secret", nil),
		deployment(t, "team-a", "web", nil), deployment(t, "secret", "vault", nil),
	}
	t.Run("cluster-wide list forbidden: per namespace, where allowed", func(t *testing.T) {
		fake, client := newFake(objs...)
		forbid(fake, "deployments", "")
		forbid(fake, "deployments", "secret")
		rep, err := Run(context.Background(), client, Options{AllNamespaces: true})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Workloads) != 1 || rep.Workloads[0].Name != "web" {
			t.Errorf("workloads = %+v, want team-a/web", rep.Workloads)
		}
		want := []string{"/Deployment/forbidden", "secret/Deployment/forbidden"}
		var got []string
		for _, p := range rep.Problems {
			got = append(got, p.Namespace+"/"+p.Kind+"/"+p.Reason)
		}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("problems = %v, want %v", got, want)
		}
	})
	t.Run("namespace list forbidden with -A: a clear error", func(t *testing.T) {
		fake, client := newFake(objs...)
		forbid(fake, "namespaces", "")
		_, err := Run(context.Background(), client, Options{AllNamespaces: true})
		if err == nil || !strings.Contains(err.Error(), "-n") {
			t.Fatalf("err = %v, want ErrNamespacesForbidden that points at -n", err)
		}
	})
	t.Run("named namespaces: the forbidden one is reported, the others audited", func(t *testing.T) {
		fake, client := newFake(objs...)
		fake.PrependReactor("get", "namespaces", func(action k8stesting.Action) (bool, runtime.Object, error) {
			if action.(k8stesting.GetAction).GetName() == "secret" {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "namespaces"}, "secret", fmt.Errorf("RBAC: no"))
			}
			return false, nil, nil
		})
		for _, k := range kinds {
			forbid(fake, k.GVR.Resource, "secret")
		}
		rep, err := Run(context.Background(), client, Options{Namespaces: []string{"team-a", "secret", "gone"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Workloads) != 1 || rep.Workloads[0].Name != "web" {
			t.Errorf("workloads = %+v, want team-a/web", rep.Workloads)
		}
		reasons := map[string]int{}
		for _, p := range rep.Problems {
			reasons[p.Namespace+"/"+p.Reason]++
		}
		if reasons["secret/forbidden"] != 1+len(kinds) || reasons["gone/not-found"] != 1 || len(reasons) != 2 {
			t.Errorf("problems by namespace/reason = %v", reasons)
		}
		for _, n := range rep.Namespaces {
			if n.Name == "secret" && n.LabelsKnown {
				t.Errorf("labels of a namespace that could not be read are marked known")
			}
			if n.Name == "gone" {
				t.Errorf("a namespace that does not exist is summarised")
			}
		}
	})
}

func TestRunUndecodableIsReportedAndTheRestGoesOn(t *testing.T) {
	bad := deployment(t, "team-a", "broken", nil)
	if err := unstructured.SetNestedField(bad.Object, "not a list", "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	noTemplate := deployment(t, "team-a", "empty", nil)
	unstructured.RemoveNestedField(noTemplate.Object, "spec", "template")
	_, client := newFake(ns(t, "team-a", nil), bad, noTemplate, deployment(t, "team-a", "web", nil))
	rep, err := Run(context.Background(), client, Options{Namespaces: []string{"team-a"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Workloads) != 1 || rep.Workloads[0].Name != "web" {
		t.Errorf("workloads = %+v, want web only", rep.Workloads)
	}
	if len(rep.Problems) != 2 || rep.Problems[0].Name != "broken" || rep.Problems[0].Reason != ProblemUndecodable ||
		rep.Problems[1].Name != "empty" || !strings.Contains(rep.Problems[1].Message, "no pod template") {
		t.Errorf("problems = %+v", rep.Problems)
	}
}

func TestStatefulSetClaimVolumes(t *testing.T) {
	set := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "team-a"}, Spec: appsv1.StatefulSetSpec{
		Template:             template(),
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}},
	}}
	set.Spec.Template.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}
	var k kind
	for _, x := range kinds {
		if x.Kind == "StatefulSet" {
			k = x
		}
	}
	pod, err := k.podOf(toUnstructured(t, set, "apps/v1", "StatefulSet"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pod.Spec.Volumes) != 1 || pod.Spec.Volumes[0].PersistentVolumeClaim == nil || pod.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-db-0" {
		t.Errorf("volumes = %+v, want the claim data-db-0 as the controller adds it", pod.Spec.Volumes)
	}
	if pod.Name != "db" || pod.Namespace != "team-a" {
		t.Errorf("pod is %s/%s, want team-a/db", pod.Namespace, pod.Name)
	}
}
