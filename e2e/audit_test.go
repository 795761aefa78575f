//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/pkg/audit"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// auditConfigName is the webhook configuration this file registers; the
// other tests' configuration is gone by the time it runs (tests in a package
// run one after another).
const auditConfigName = "secure-defaults-e2e-audit"

// auditGVRs says where each kind the audit reads is served.
var auditGVRs = map[string]schema.GroupVersionResource{
	"Deployment":            {Group: "apps", Version: "v1", Resource: "deployments"},
	"StatefulSet":           {Group: "apps", Version: "v1", Resource: "statefulsets"},
	"DaemonSet":             {Group: "apps", Version: "v1", Resource: "daemonsets"},
	"ReplicaSet":            {Group: "apps", Version: "v1", Resource: "replicasets"},
	"Job":                   {Group: "batch", Version: "v1", Resource: "jobs"},
	"CronJob":               {Group: "batch", Version: "v1", Resource: "cronjobs"},
	"ReplicationController": {Version: "v1", Resource: "replicationcontrollers"},
	"Pod":                   {Version: "v1", Resource: "pods"},
}

// TestAudit seeds the e2e corpus as real objects across namespaces, opted in
// and not, runs the real `secure-defaults audit` against the API server, and
// checks every number of its report against what the webhook and Pod
// Security do to pods created from the same templates. Then it audits with
// a token bound to the shipped ClusterRole in some namespaces only, and
// against a cluster that is not there.
func TestAudit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()

	w, err := buildWebhook(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := w.stop(); err != nil {
			t.Errorf("stopping the webhook: %v", err)
		}
	})
	cfg := webhookConfig(w, admissionregistrationv1.Fail)
	cfg.Name = auditConfigName
	if err := register(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), auditConfigName, metav1.DeleteOptions{})
	})

	optedIn := auditNamespace(ctx, t, "audit-optin-", map[string]string{defaults.InjectKey: defaults.InjectEnabled, "pod-security.kubernetes.io/warn": "restricted"})
	plain := auditNamespace(ctx, t, "audit-plain-", nil)
	secret := auditNamespace(ctx, t, "audit-secret-", nil)
	if err := waitEffective(ctx, optedIn); err != nil {
		t.Fatal(err)
	}

	seeded := map[string][]auditObject{}
	for _, ns := range []string{optedIn, plain, secret} {
		seeded[ns] = auditSeed(ctx, t, ns)
	}
	t.Logf("seeded %d objects in each of %s (opted in), %s, %s", len(seeded[plain]), optedIn, plain, secret)

	bin := w.bin
	admin := controlPlane.Kubeconfig
	var rep audit.Report
	t.Run("report as the cluster admin", func(t *testing.T) {
		out, stderr, code := auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", strings.Join([]string{optedIn, plain, secret}, ","), "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("report is not JSON: %v\n%s", err, out)
		}
		if rep.APIVersion != audit.APIVersion || rep.Kind != audit.ReportKind {
			t.Errorf("apiVersion/kind = %s/%s", rep.APIVersion, rep.Kind)
		}
		if len(rep.Problems) != 0 {
			t.Errorf("problems: %+v", rep.Problems)
		}
		for _, ns := range []string{optedIn, plain, secret} {
			var got []string
			for _, wl := range rep.Workloads {
				if wl.Namespace == ns {
					got = append(got, wl.Kind+"/"+wl.Name)
				}
			}
			var want []string
			for _, o := range seeded[ns] {
				if !o.owned {
					want = append(want, o.kind+"/"+o.name)
				}
			}
			sort.Strings(want)
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("namespace %s: audited %v, want the top-level objects %v", ns, got, want)
			}
		}
		for _, format := range []string{"table", "wide"} {
			table, stderr, code := auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", optedIn+","+plain, "-o", format)
			if code != 0 {
				t.Fatalf("-o %s: exit %d", format, code)
			}
			t.Logf("secure-defaults audit -n %s,%s -o %s:\n%s%s", optedIn, plain, format, table, stderr)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("numbers equal what the webhook and Pod Security do", func(t *testing.T) {
		auditCompareWithAdmission(ctx, t, &rep, []string{optedIn, plain}, seeded)
	})

	t.Run("namespace summary", func(t *testing.T) {
		byName := map[string]audit.Namespace{}
		for _, n := range rep.Namespaces {
			byName[n.Name] = n
		}
		if n := byName[optedIn]; !n.OptedIn || n.Inject != "enabled" || n.PodSecurity["warn"] != "restricted" || !n.LabelsKnown {
			t.Errorf("opted-in namespace summary: %+v", n)
		}
		if n := byName[plain]; n.OptedIn || n.Inject != "" || len(n.PodSecurity) != 0 || !n.LabelsKnown {
			t.Errorf("plain namespace summary: %+v", n)
		}
		var total audit.Counts
		for _, n := range rep.Namespaces {
			total.Workloads += n.Workloads
			total.WouldChange += n.WouldChange
			total.RestrictedAfter += n.RestrictedAfter
		}
		if total.Workloads != rep.Totals.Workloads || total.WouldChange != rep.Totals.WouldChange || total.RestrictedAfter != rep.Totals.RestrictedAfter {
			t.Errorf("totals %+v do not add up the namespaces %+v", rep.Totals, total)
		}
	})

	t.Run("fail-on gates exit 3", func(t *testing.T) {
		_, stderr, code := auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", plain, "--fail-on=would-change", "-o", "json")
		if code != 3 || !strings.Contains(stderr, "--fail-on=would-change") {
			t.Errorf("--fail-on=would-change: exit %d, want 3; stderr:\n%s", code, stderr)
		}
		_, stderr, code = auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", plain, "--fail-on=would-not-start")
		if code != 0 {
			t.Errorf("--fail-on=would-not-start without image lookup: exit %d, want 0 (nothing is known not to start); stderr:\n%s", code, stderr)
		}
		if !strings.Contains(stderr, "image lookup") {
			t.Errorf("stderr does not say the start of some workloads is unknown without image lookup:\n%s", stderr)
		}
		_, _, code = auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", plain, "--fail-on=sometimes")
		if code != 2 {
			t.Errorf("unknown --fail-on condition: exit %d, want 2", code)
		}
	})

	t.Run("--config: the rules the configuration turns off do not count", func(t *testing.T) {
		path := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(path, []byte("apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\nrules:\n  run-as-non-root: {enabled: false}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		out, stderr, code := auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", plain, "-o", "json", "--config", path)
		if code != 0 {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		var withConfig audit.Report
		if err := json.Unmarshal(out, &withConfig); err != nil {
			t.Fatal(err)
		}
		if withConfig.Config != path {
			t.Errorf("report's config = %q, want %q", withConfig.Config, path)
		}
		rules := map[string][]string{}
		for _, wl := range rep.Workloads {
			rules[wl.Kind+"/"+wl.Name] = slices.DeleteFunc(slices.Clone(wl.Rules), func(id string) bool { return id == "run-as-non-root" })
		}
		for _, wl := range withConfig.Workloads {
			if want := rules[wl.Kind+"/"+wl.Name]; !slices.Equal(wl.Rules, nonNilStrings(want)) {
				t.Errorf("%s: rules %v with run-as-non-root off, want %v", wl.Name, wl.Rules, want)
			}
			if wl.Start.Verdict != audit.Starts {
				t.Errorf("%s: start %s without run-as-non-root: nothing depends on the image", wl.Name, wl.Start.Verdict)
			}
		}
		_, stderr, code = auditRun(ctx, t, bin, "--kubeconfig", admin, "-n", plain, "--config", filepath.Join(dir, "missing.yaml"))
		if code != 2 {
			t.Errorf("a configuration file that does not exist: exit %d, want 2; stderr:\n%s", code, stderr)
		}
	})

	t.Run("auditor token bound in some namespaces only", func(t *testing.T) {
		kubeconfig := auditAuditorKubeconfig(ctx, t, dir, []string{optedIn, plain})
		out, stderr, code := auditRun(ctx, t, bin, "--kubeconfig", kubeconfig, "-n", strings.Join([]string{optedIn, plain, secret}, ","), "-o", "json")
		if code != 0 {
			t.Fatalf("exit %d, want 0 (forbidden namespaces are skipped); stderr:\n%s", code, stderr)
		}
		var limited audit.Report
		if err := json.Unmarshal(out, &limited); err != nil {
			t.Fatal(err)
		}
		var want, got []string
		for _, wl := range rep.Workloads {
			if wl.Namespace != secret {
				want = append(want, wl.Namespace+"/"+wl.Kind+"/"+wl.Name+" "+strings.Join(wl.Rules, ","))
			}
		}
		for _, wl := range limited.Workloads {
			got = append(got, wl.Namespace+"/"+wl.Kind+"/"+wl.Name+" "+strings.Join(wl.Rules, ","))
		}
		if !slices.Equal(got, want) {
			t.Errorf("auditor's workloads differ from the admin's outside the forbidden namespace:\n got %v\nwant %v", got, want)
		}
		forbidden := 0
		for _, p := range limited.Problems {
			if p.Namespace != secret || p.Reason != audit.ProblemForbidden {
				t.Errorf("unexpected problem %+v", p)
			}
			forbidden++
		}
		if forbidden != 1+len(auditGVRs) {
			t.Errorf("%d forbidden problems for %s, want the namespace and each of the %d kinds", forbidden, secret, len(auditGVRs))
		}
		if !strings.Contains(stderr, "namespace "+secret) || !strings.Contains(stderr, "forbidden") {
			t.Errorf("stderr does not report the forbidden namespace:\n%s", stderr)
		}

		_, stderr, code = auditRun(ctx, t, bin, "--kubeconfig", kubeconfig, "-A")
		if code != 1 || !strings.Contains(stderr, "-n") || !strings.Contains(stderr, "namespaces") {
			t.Errorf("-A without the right to list namespaces: exit %d, want 1 with advice to use -n; stderr:\n%s", code, stderr)
		}
	})

	t.Run("unreachable cluster: exit 1 with a clear message", func(t *testing.T) {
		ports, err := framework.FreePorts(1)
		if err != nil {
			t.Fatal(err)
		}
		kc := clientcmdapi.NewConfig()
		kc.Clusters["gone"] = &clientcmdapi.Cluster{Server: fmt.Sprintf("https://127.0.0.1:%d", ports[0]), CertificateAuthorityData: controlPlane.CAPEM}
		kc.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
		kc.Contexts["gone"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "u"}
		kc.CurrentContext = "gone"
		path := filepath.Join(dir, "gone.kubeconfig")
		if err := clientcmd.WriteToFile(*kc, path); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		out, stderr, code := auditRun(ctx, t, bin, "--kubeconfig", path, "-A")
		if code != 1 || !strings.Contains(stderr, "cannot reach the API server") || len(out) != 0 {
			t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant exit 1, nothing on stdout, and 'cannot reach the API server'", code, out, stderr)
		}
		t.Logf("unreachable cluster reported in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr))
	})
}

// TestAuditScale audits 5,000 Deployments and reports how long it took and
// the peak memory of the process, and proves with a counting transport that
// the objects were read in pages of 500.
func TestAuditScale(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const n = 5000
	ns := auditNamespace(ctx, t, "audit-scale-", nil)
	cfg := rest.CopyConfig(controlPlane.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int32
	var firstErr atomic.Value
	jobs := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				d := auditDeployment(fmt.Sprintf("app-%04d", i))
				if i%3 == 0 { // a third already hardened
					d.Spec.Template.Spec = hardened(&corev1.Pod{Spec: d.Spec.Template.Spec}).Spec
				}
				if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d creates failed, first: %v", failed.Load(), firstErr.Load())
	}
	t.Logf("created %d Deployments in %s", n, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		_ = client.AppsV1().Deployments(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{})
	})

	dir := t.TempDir()
	bin, err := framework.GoBuild(ctx, dir, "./cmd/secure-defaults")
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json", "table"} {
		cmd := exec.CommandContext(ctx, bin, "audit", "--kubeconfig", controlPlane.Kubeconfig, "-n", ns, "-o", format)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			t.Fatalf("audit: %v\n%s", err, stderr.String())
		}
		elapsed := time.Since(start)
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		t.Logf("FIGURE audit -o %s of %d Deployments: %s wall, %s CPU, peak RSS %.1f MiB, %d bytes of output",
			format, n, elapsed.Round(time.Millisecond), (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Round(time.Millisecond),
			float64(ru.Maxrss)/1024, stdout.Len())
		if format == "json" {
			var rep audit.Report
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			hardenedCount := (n + 2) / 3
			if rep.Totals.Workloads != n || rep.Totals.WouldChange != n-hardenedCount || rep.Totals.RestrictedBefore != hardenedCount || rep.Totals.RestrictedAfter != n {
				t.Errorf("totals = %+v, want %d workloads, %d would change, %d restricted before, all after", rep.Totals, n, n-hardenedCount, hardenedCount)
			}
		}
		// The line appears a second into the run; allow for the process's
		// start and the API server's first answer.
		if elapsed > 2*time.Second && !strings.Contains(stderr.String(), "objects read") {
			t.Errorf("a run of %s printed no progress line on stderr:\n%s", elapsed, stderr.String())
		}
	}

	// The same run in-process, counting the list requests of Deployments.
	var pages, largest atomic.Int64
	counting := rest.CopyConfig(controlPlane.Config)
	counting.QPS, counting.Burst = 50, 100
	counting.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return auditRoundTripper(func(r *http.Request) (*http.Response, error) {
			if strings.HasSuffix(r.URL.Path, "/deployments") {
				pages.Add(1)
				if r.URL.Query().Get("limit") != "500" {
					t.Errorf("list without limit=500: %s", r.URL)
				}
			}
			resp, err := rt.RoundTrip(r)
			if resp != nil && resp.ContentLength > largest.Load() {
				largest.Store(resp.ContentLength)
			}
			return resp, err
		})
	})
	dc, err := dynamic.NewForConfig(counting)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.Run(ctx, dc, audit.Options{Namespaces: []string{ns}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Workloads != n {
		t.Errorf("in-process audit found %d workloads, want %d", rep.Totals.Workloads, n)
	}
	if want := int64(n / 500); pages.Load() != want {
		t.Errorf("%d list requests for Deployments, want %d pages of 500", pages.Load(), want)
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type auditRoundTripper func(*http.Request) (*http.Response, error)

func (f auditRoundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func auditDeployment(name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1.0"}}},
			},
		},
	}
}

func auditNamespace(ctx context.Context, t *testing.T, prefix string, labels map[string]string) string {
	t.Helper()
	ns, err := controlPlane.CreateNamespace(ctx, prefix, labels)
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// auditObject is one object seeded into a namespace.
type auditObject struct {
	kind, name string
	owned      bool // a controller owns it: the audit leaves it to its owner
}

// auditSeed creates in ns every workload and Pod of the e2e corpus, as
// stored objects (there is no controller-manager: nothing acts on them), plus
// a ReplicaSet a controller owns, and returns what it created.
func auditSeed(ctx context.Context, t *testing.T, ns string) []auditObject {
	t.Helper()
	dc, err := dynamic.NewForConfig(controlPlane.Config)
	if err != nil {
		t.Fatal(err)
	}
	var out []auditObject
	taken := map[string]bool{}
	for _, d := range corpusDocuments(t) {
		var obj map[string]any
		if err := json.Unmarshal(d.JSON, &obj); err != nil {
			t.Fatal(err)
		}
		items := []any{obj}
		if list, ok := obj["items"].([]any); ok && strings.HasSuffix(fmt.Sprint(obj["kind"]), "List") {
			items = list
		}
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			u := &unstructured.Unstructured{Object: m}
			gvr, ok := auditGVRs[u.GetKind()]
			if !ok {
				continue
			}
			auditClean(u, ns)
			base := u.GetName()
			for i := 2; taken[u.GetKind()+"/"+u.GetName()]; i++ {
				u.SetName(fmt.Sprintf("%s-%d", base, i))
			}
			if u.GetKind() == "Pod" {
				sa, _, _ := unstructured.NestedString(u.Object, "spec", "serviceAccountName")
				if err := ensureServiceAccount(ctx, ns, sa); err != nil {
					t.Fatal(err)
				}
			}
			created, err := dc.Resource(gvr).Namespace(ns).Create(ctx, u, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("%s: %s %s: %v", d.Source, u.GetKind(), u.GetName(), err)
			}
			taken[u.GetKind()+"/"+created.GetName()] = true
			out = append(out, auditObject{kind: created.GetKind(), name: created.GetName()})
		}
	}
	// A ReplicaSet its Deployment controls: audited through the Deployment.
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "owned-rs", Namespace: ns, Labels: map[string]string{"app": "owned"}, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps/v1", Kind: "Deployment", Name: "someone", UID: "00000000-0000-0000-0000-000000000001", Controller: ptr.To(true),
		}}},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "owned"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "owned"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1.0"}}},
			},
		},
	}
	if _, err := controlPlane.Client.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	out = append(out, auditObject{kind: "ReplicaSet", name: rs.Name, owned: true})
	if len(out) < 20 {
		t.Fatalf("seeded only %d objects from the corpus", len(out))
	}
	return out
}

// auditClean makes an object read from a manifest (perhaps `kubectl get`
// output) creatable in ns: no server-set fields, no owner (there is none).
func auditClean(u *unstructured.Unstructured, ns string) {
	meta, _ := u.Object["metadata"].(map[string]any)
	clean := map[string]any{}
	for _, k := range []string{"name", "generateName", "labels", "annotations"} {
		if v, ok := meta[k]; ok {
			clean[k] = v
		}
	}
	u.Object["metadata"] = clean
	delete(u.Object, "status")
	u.SetNamespace(ns)
	if u.GetName() == "" {
		u.SetName(strings.TrimSuffix(strings.ToLower(u.GetGenerateName()), "-") + "-seeded")
		u.SetGenerateName("")
	}
	if u.GetKind() == "Pod" {
		// A stored pod's node may not exist here; the audit does not read it.
		unstructured.RemoveNestedField(u.Object, "spec", "nodeName")
	}
}

// auditCompareWithAdmission creates, with dryRun=All, a pod from the
// template of every workload the report lists in namespaces, in three
// namespaces: opted in without Pod Security (what the webhook sets), opted
// in under restricted (passes after?), restricted alone (passes before?),
// and checks each against the report, then the namespace totals.
func auditCompareWithAdmission(ctx context.Context, t *testing.T, rep *audit.Report, namespaces []string, seeded map[string][]auditObject) {
	mutating := auditNamespace(ctx, t, "audit-probe-optin-", map[string]string{defaults.InjectKey: defaults.InjectEnabled, psaEnforce: psaPrivileged})
	after := auditNamespace(ctx, t, "audit-probe-after-", map[string]string{defaults.InjectKey: defaults.InjectEnabled, psaEnforce: psaRestricted})
	before := auditNamespace(ctx, t, "audit-probe-before-", map[string]string{psaEnforce: psaRestricted})
	if err := waitEffective(ctx, mutating); err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(controlPlane.Config)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*audit.Counts{}
	for _, ns := range namespaces {
		got[ns] = &audit.Counts{}
	}
	for _, wl := range rep.Workloads {
		c, ok := got[wl.Namespace]
		if !ok {
			continue
		}
		where := wl.Namespace + "/" + wl.Kind + "/" + wl.Name
		obj, err := dc.Resource(auditGVRs[wl.Kind]).Namespace(wl.Namespace).Get(ctx, wl.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		pod, err := auditPodOf(obj)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		c.Workloads++

		admitted, err := auditDryRun(ctx, pod, mutating)
		if err != nil {
			t.Errorf("%s: rejected in an opted-in privileged namespace: %v", where, err)
			continue
		}
		// What this admission added to the defaulted annotation (a stored
		// pod of an opted-in namespace carries what was done at its create).
		applied := []string{}
		had := strings.Split(pod.Annotations[defaults.DefaultedAnnotation], ",")
		for _, id := range strings.Split(admitted.Annotations[defaults.DefaultedAnnotation], ",") {
			if id != "" && !slices.Contains(had, id) {
				applied = append(applied, id)
			}
		}
		if !slices.Equal(applied, wl.Rules) {
			t.Errorf("%s: the webhook applied %v, the report says %v", where, applied, wl.Rules)
		}
		if len(applied) > 0 {
			c.WouldChange++
		}
		if _, err := auditDryRun(ctx, pod, after); err == nil {
			c.RestrictedAfter++
			if !wl.Restricted.After {
				t.Errorf("%s: admitted under restricted once opted in, the report says it still fails: %+v", where, wl.Restricted.StillFails)
			}
		} else {
			if wl.Restricted.After {
				t.Errorf("%s: the report says it passes restricted once opted in; the API server: %v", where, err)
			}
			for _, v := range wl.Restricted.StillFails {
				if !strings.Contains(err.Error(), v.Reason) {
					t.Errorf("%s: the report says %q still fails; the API server's rejection does not name it: %v", where, v.Reason, err)
				}
			}
		}
		if _, err := auditDryRun(ctx, pod, before); err == nil {
			c.RestrictedBefore++
			if !wl.Restricted.Before {
				t.Errorf("%s: admitted under restricted as it is, the report says it fails", where)
			}
		} else if wl.Restricted.Before {
			t.Errorf("%s: the report says it passes restricted as it is; the API server: %v", where, err)
		}
	}
	for _, n := range rep.Namespaces {
		c, ok := got[n.Name]
		if !ok {
			continue
		}
		if c.Workloads != n.Workloads || c.WouldChange != n.WouldChange || c.RestrictedBefore != n.RestrictedBefore || c.RestrictedAfter != n.RestrictedAfter {
			t.Errorf("namespace %s: report says workloads/would change/restricted before/after = %d/%d/%d/%d; admission says %d/%d/%d/%d",
				n.Name, n.Workloads, n.WouldChange, n.RestrictedBefore, n.RestrictedAfter, c.Workloads, c.WouldChange, c.RestrictedBefore, c.RestrictedAfter)
		}
		t.Logf("namespace %s: %d workloads, %d would change, restricted %d before / %d after — equal to admission", n.Name, c.Workloads, c.WouldChange, c.RestrictedBefore, c.RestrictedAfter)
	}
}

// auditPodOf builds the pod a controller would create from obj, as the test
// reads it: the Pod itself, or its template (CronJob: the job's), with the
// claim volumes a StatefulSet's controller adds.
func auditPodOf(obj *unstructured.Unstructured) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if obj.GetKind() == "Pod" {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, pod); err != nil {
			return nil, err
		}
		// The stored pod got its token volume from the ServiceAccount
		// plugin; it adds it again on create.
		pod.Spec.Volumes = slices.DeleteFunc(pod.Spec.Volumes, isServiceAccountToken)
		for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
			for i := range list {
				list[i].VolumeMounts = slices.DeleteFunc(list[i].VolumeMounts, func(m corev1.VolumeMount) bool {
					return strings.HasPrefix(m.Name, "kube-api-access-")
				})
			}
		}
		pod.ObjectMeta = metav1.ObjectMeta{Labels: pod.Labels, Annotations: pod.Annotations}
		pod.Spec.NodeName = ""
		return pod, nil
	}
	path := []string{"spec", "template"}
	if obj.GetKind() == "CronJob" {
		path = []string{"spec", "jobTemplate", "spec", "template"}
	}
	m, found, err := unstructured.NestedMap(obj.Object, path...)
	if err != nil || !found {
		return nil, fmt.Errorf("no template at %v: %v", path, err)
	}
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &tmpl); err != nil {
		return nil, err
	}
	pod.ObjectMeta = metav1.ObjectMeta{Labels: tmpl.Labels, Annotations: tmpl.Annotations}
	pod.Spec = tmpl.Spec
	if obj.GetKind() == "StatefulSet" {
		var set appsv1.StatefulSet
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, &set); err != nil {
			return nil, err
		}
		for _, c := range set.Spec.VolumeClaimTemplates {
			if !hasVolume(pod, c.Name) {
				pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
					PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + set.Name + "-0"},
				}})
			}
		}
	}
	return pod, nil
}

// auditDryRun creates pod in ns with dryRun=All and returns what admission
// made of it.
func auditDryRun(ctx context.Context, pod *corev1.Pod, ns string) (*corev1.Pod, error) {
	p := pod.DeepCopy()
	p.Namespace = ns
	p.GenerateName = "probe-"
	if err := ensureServiceAccount(ctx, ns, p.Spec.ServiceAccountName); err != nil {
		return nil, err
	}
	return controlPlane.DryRunCreate(ctx, p)
}

// auditAuditorKubeconfig creates a ServiceAccount bound to the shipped
// ClusterRole secure-defaults-auditor by a RoleBinding in each of
// namespaces only, checks that it grants reading and nothing else, and
// writes a kubeconfig with a token for it.
func auditAuditorKubeconfig(ctx context.Context, t *testing.T, dir string, namespaces []string) string {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, "deploy", "base", "08-auditor-clusterrole.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	if err := sigsyaml.UnmarshalStrict(src, &role); err != nil {
		t.Fatal(err)
	}
	if role.Name != "secure-defaults-auditor" {
		t.Fatalf("shipped ClusterRole is %q", role.Name)
	}
	cs := controlPlane.Client
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	home := auditNamespace(ctx, t, "audit-auditor-", nil)
	if _, err := cs.CoreV1().ServiceAccounts(home).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "auditor"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "secure-defaults-auditor"},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "auditor", Namespace: home}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tok, err := cs.CoreV1().ServiceAccounts(home).CreateToken(ctx, "auditor", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["e2e"] = &clientcmdapi.Cluster{Server: controlPlane.Config.Host, CertificateAuthorityData: controlPlane.CAPEM}
	kc.AuthInfos["auditor"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	kc.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "auditor", Namespace: namespaces[0]}
	kc.CurrentContext = "e2e"
	path := filepath.Join(dir, "auditor.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}

	// Least privilege: it reads what the audit reads, and nothing else.
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	as, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ns, verb, group, resource string
		want                      bool
	}{
		{namespaces[0], "list", "apps", "deployments", true},
		{namespaces[0], "list", "", "pods", true},
		{namespaces[0], "list", "batch", "cronjobs", true},
		{namespaces[0], "list", "", "secrets", false},
		{namespaces[0], "get", "", "configmaps", false},
		{namespaces[0], "create", "", "pods", false},
		{namespaces[0], "update", "apps", "deployments", false},
		{namespaces[0], "watch", "apps", "deployments", false},
		{"", "list", "", "namespaces", false},
	} {
		r, err := as.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: c.ns, Verb: c.verb, Group: c.group, Resource: c.resource,
			}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != c.want {
			t.Errorf("auditor may %s %s.%s in %q: %v, want %v", c.verb, c.resource, c.group, c.ns, r.Status.Allowed, c.want)
		}
	}
	return path
}

// auditRun runs the binary's audit command and returns stdout, stderr and
// the exit code.
func auditRun(ctx context.Context, t *testing.T, bin string, args ...string) ([]byte, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"audit"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running audit: %v", err)
	}
	return stdout.Bytes(), stderr.String(), cmd.ProcessState.ExitCode()
}
