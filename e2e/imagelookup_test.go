//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/e2e/framework/images"
	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/audit"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// TestImageLookup runs the webhook binary with image lookup on against a
// registry on loopback, behind the real API server: a named-user image gets
// its UID pinned and passes Pod Security "restricted"; a root image's
// container is left to run as root, with a warning naming the image; a
// registry that stalls costs a create no more than the lookup timeout, and
// the pod gets the defaults of lookup off.
func TestImageLookup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	reg := ilt.New(t, ilt.WithoutTLS()) // the binary's own transport: plain HTTP on loopback
	named := reg.Push(t, "named", "v1", ilt.Image(t, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}))
	root := reg.Push(t, "root", "v1", ilt.Image(t, ""))

	w, cfgFile := startWebhookWithConfig(ctx, t, "imageLookup: {enabled: true, timeout: 2s}\n")
	restricted := namespace(ctx, t, "images-restricted-", true, psaRestricted)
	baseline := namespace(ctx, t, "images-baseline-", true, "baseline")
	auditNS := namespace(ctx, t, "images-audit-", true, "baseline") // nothing but the audit's workloads
	// Wait as waitEffective does, with an image of the loopback registry:
	// the test asks no other registry (nor its name of DNS).
	probe := plainPod(restricted)
	probe.Spec.Containers[0].Image = named
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := controlPlane.WaitForMutation(wctx, probe, func(p *corev1.Pod) bool {
		return p.Annotations[defaults.DefaultedAnnotation] != ""
	}); err != nil {
		t.Fatal(err)
	}
	client, seen := warningClient(t, controlPlane.Config)
	create := func(t *testing.T, ns string, containers ...corev1.Container) *corev1.Pod {
		t.Helper()
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "images-", Namespace: ns}, Spec: corev1.PodSpec{Containers: containers}}
		created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		return created
	}

	t.Run("named user: UID pinned, admitted by restricted", func(t *testing.T) {
		seen.take()
		p := create(t, restricted, corev1.Container{Name: "app", Image: named})
		sc := p.Spec.Containers[0].SecurityContext
		if sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != 1000 {
			t.Errorf("securityContext %+v, want runAsUser 1000", sc)
		}
		if psc := p.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("pod securityContext %+v, want runAsNonRoot", psc)
		}
		if got := strings.Join(seen.take(), "\n"); !strings.Contains(got, `"app": runAsUser set to 1000`) {
			t.Errorf("warnings %q do not say the UID was pinned", got)
		}
	})

	t.Run("root image: runs as root, with a warning naming the image", func(t *testing.T) {
		seen.take()
		p := create(t, baseline, corev1.Container{Name: "setup", Image: root}, corev1.Container{Name: "app", Image: named})
		if sc := p.Spec.Containers[0].SecurityContext; sc != nil && (sc.RunAsNonRoot != nil || sc.RunAsUser != nil) {
			t.Errorf("root image container: %+v", sc)
		}
		if psc := p.Spec.SecurityContext; psc != nil && psc.RunAsNonRoot != nil {
			t.Errorf("pod-level runAsNonRoot next to a root image")
		}
		if sc := p.Spec.Containers[1].SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil {
			t.Errorf("named-user container: %+v, want its own runAsNonRoot and runAsUser", sc)
		}
		if got := strings.Join(seen.take(), "\n"); !strings.Contains(got, "its image "+root+" runs as root") {
			t.Errorf("warnings %q do not name the root image", got)
		}
	})

	// The audit with the same configuration reads the same images and
	// reports what the webhook does to pods from the same templates.
	t.Run("audit reads the images as the webhook does", func(t *testing.T) {
		numeric := reg.Push(t, "numeric", "v1", ilt.Image(t, "65532"))
		missing := reg.Host + "/missing:v1"
		ns := auditNS
		byName := map[string]string{"named": named, "root": root, "numeric": numeric, "missing": missing}
		for name, img := range byName {
			d := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
				Spec: appsv1.DeploymentSpec{
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}},
						Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: img}}},
					},
				},
			}
			if _, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.CommandContext(ctx, w.bin, "audit", "--kubeconfig", controlPlane.Kubeconfig, "-n", ns, "-o", "json", "--config", cfgFile)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+t.TempDir()) // no credentials of the machine's
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("audit: %v\n%s", err, stderr.String())
		}
		var rep audit.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("report: %v\n%s", err, out)
		}
		if !rep.ImageLookup || len(rep.Workloads) != len(byName) {
			t.Fatalf("imageLookup %v, %d workloads; want true, %d", rep.ImageLookup, len(rep.Workloads), len(byName))
		}
		wantStart := map[string]string{"named": audit.Starts, "root": audit.Starts, "numeric": audit.Starts, "missing": audit.StartUnknown}
		for _, wl := range rep.Workloads {
			t.Logf("%s: rules %v, start %s %q, needs root %+v", wl.Name, wl.Rules, wl.Start.Verdict, wl.Start.Reasons, wl.NeedsRoot)
			if wl.Start.Verdict != wantStart[wl.Name] {
				t.Errorf("%s: start %s, want %s", wl.Name, wl.Start.Verdict, wantStart[wl.Name])
			}
			if isRoot := len(wl.NeedsRoot) == 1 && strings.Contains(wl.NeedsRoot[0].Reason, "its image "+root+" runs as root"); isRoot != (wl.Name == "root") {
				t.Errorf("%s: needs root %+v", wl.Name, wl.NeedsRoot)
			}
			// The webhook, with the same configuration, on a pod from the
			// same template: the same rules apply.
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "audit-", Namespace: ns},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: byName[wl.Name]}}}}
			created, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strings.Join(wl.Rules, ","), created.Annotations[defaults.DefaultedAnnotation]; got != want {
				t.Errorf("%s: audit says rules %q, the webhook applied %q", wl.Name, got, want)
			}
		}
		for _, wl := range rep.Workloads {
			if warned := strings.Contains(strings.Join(wl.Warnings, "\n"), "the user of image "+missing+" is not known"); warned != (wl.Name == "missing") {
				t.Errorf("%s: warnings %q", wl.Name, wl.Warnings)
			}
		}
	})

	t.Run("stalled registry: answered within the lookup timeout, defaults as lookup off", func(t *testing.T) {
		unseen := reg.Push(t, "fresh", "v1", ilt.Image(t, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}))
		reg.Gate(func(*http.Request) (int, bool) { return 0, true })
		defer reg.Gate(nil)
		seen.take()
		start := time.Now()
		p := create(t, restricted, corev1.Container{Name: "app", Image: unseen})
		took := time.Since(start)
		if sc := p.Spec.Containers[0].SecurityContext; sc != nil && sc.RunAsUser != nil {
			t.Errorf("runAsUser %d pinned without an answer from the registry", *sc.RunAsUser)
		}
		if psc := p.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
			t.Errorf("pod securityContext %+v, want runAsNonRoot as with lookup off", psc)
		}
		if got := strings.Join(seen.take(), "\n"); !strings.Contains(got, "did not answer in time") {
			t.Errorf("warnings %q do not say the registry did not answer", got)
		}
		t.Logf("create took %s with the registry stalled (lookup timeout 2s, webhook timeout 5s)", took.Round(time.Millisecond))
	})

	// With the kubelet: the images the runtime pulls are the ones the
	// webhook reads, from the same loopback registry.
	t.Run("real pods: root and named-user images reach Running", func(t *testing.T) {
		needNode(t)
		cases := []struct {
			name string
			pod  *corev1.Pod
			uid  int
		}{
			{"root image (no USER), opted in, baseline", probePod(baseline, "root-empty", testImages.RootEmpty), 0},
			{"root image (USER 0), opted in, baseline", probePod(baseline, "root-zero", testImages.RootZero), 0},
			{"named user image (USER app), opted in, restricted", probePod(restricted, "named", testImages.Named), images.NamedUID},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				// A server-side dry run shows what kubectl would: the
				// stored spec and the warnings.
				seen.take()
				created, err := client.CoreV1().Pods(tc.pod.Namespace).Create(ctx, tc.pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
				if err != nil {
					t.Fatalf("dry-run create: %v", err)
				}
				warned := strings.Join(seen.take(), "\n")
				o := controlPlane.RunPod(ctx, tc.pod, 90*time.Second)
				defer controlPlane.DeletePods(ctx, []framework.PodOutcome{o})
				t.Logf("outcome: %s; warnings: %q", o, warned)
				if o.State != "Running" {
					t.Fatalf("got %s, want Running", o)
				}
				r, err := controlPlane.ProbeReport(ctx, o.Pod, "app")
				if err != nil {
					t.Fatal(err)
				}
				if r.UID != tc.uid {
					t.Errorf("runs as uid %d, want %d", r.UID, tc.uid)
				}
				sc := created.Spec.Containers[0].SecurityContext
				if tc.uid == 0 && !strings.Contains(warned, "runs as root") {
					t.Errorf("no warning that the image runs as root: %q", warned)
				}
				if tc.uid != 0 && (sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != int64(tc.uid)) {
					t.Errorf("named user: securityContext %s, want runAsUser %d pinned", toJSON(sc), tc.uid)
				}
			})
		}
	})

	t.Run("metrics count the lookups", func(t *testing.T) {
		m, err := w.metrics(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{`secure_defaults_image_lookups_total{result="miss"}`, `secure_defaults_image_lookups_total{result="timeout"}`} {
			if m[k] < 1 {
				t.Errorf("%s = %v, want at least 1 (all: %v)", k, m[k], fmt.Sprint(m))
			}
		}
	})
}
