//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/e2e/framework/images"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// TestPods runs pods on the kubelet: the webhook is the project's own image,
// run as a pod with the shipped securityContext, and every case compares a
// namespace that opted in with one that did not.
func TestPods(t *testing.T) {
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()

	var w *webhook
	if !timed(t, "setup: the project's image serves the API server as a pod", func(t *testing.T) {
		w = startWebhookPod(ctx, t)
	}) {
		t.FailNow()
	}
	t.Cleanup(func() {
		_ = controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), webhookConfigName, metav1.DeleteOptions{})
	})
	optedIn := namespace(ctx, t, "pods-optin-", true, psaRestricted)
	// Pod Security would reject some pods of cases 3 and 4 before the
	// kubelet sees them (a root init container; kubectl debug's default
	// profile adds SYS_PTRACE): those cases run where nothing is enforced.
	optedInOpen := namespace(ctx, t, "pods-optin-open-", true, "")
	plain := namespace(ctx, t, "pods-plain-", false, "")
	if err := waitEffective(ctx, optedIn); err != nil {
		t.Fatal(err)
	}

	timed(t, "1 hardened pod: what the container sees", func(t *testing.T) {
		testHardenedPod(ctx, t, optedIn, plain)
	})
	timed(t, "3 root image, named user, chown init container: today's outcome", func(t *testing.T) {
		testImageUsers(ctx, t, optedInOpen, plain)
	})
	timed(t, "4 kubectl debug: the ephemeral container starts with its defaults", func(t *testing.T) {
		testDebug(ctx, t, optedInOpen)
	})
	timed(t, "5 create to Running, with and without the webhook", func(t *testing.T) {
		testStartLatency(ctx, t, optedIn, plain)
	})
	timed(t, "2 never break: the corpus as running pods", func(t *testing.T) {
		testCorpusRuns(ctx, t)
	})
	_ = w
}

// startWebhookPod builds the project's image as the Dockerfile does, runs
// it as a pod made from deploy/base (framework.StartWebhookPod says what
// differs from the shipped pod) and registers it.
func startWebhookPod(ctx context.Context, t *testing.T) *webhook {
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ref, err := images.Project(ctx, imageRegistry, root, imageWorkDir, "-s -w")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s built and pushed in %s", ref, time.Since(start).Round(time.Millisecond))
	cert, err := framework.GenerateServingCert(t.TempDir(), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	ports, err := framework.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	w := &webhook{cert: cert, port: ports[0], metricsPort: ports[1]}
	start = time.Now()
	pod, err := controlPlane.StartWebhookPod(ctx, framework.WebhookPodOptions{Image: ref, Port: w.port, MetricsPort: w.metricsPort, Cert: cert})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("webhook pod %s/%s Ready %s after create, serving 127.0.0.1:%d", pod.Namespace, pod.Name, time.Since(start).Round(time.Millisecond), w.port)
	sc := pod.Spec.Containers[0].SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.RunAsUser == nil || *sc.RunAsUser != images.NonRootUID {
		t.Errorf("the webhook pod lost the shipped securityContext: %s", toJSON(sc))
	}
	if err := register(ctx, webhookConfig(w, admissionregistrationv1.Fail)); err != nil {
		t.Fatal(err)
	}
	return w
}

// testHardenedPod: a pod that says nothing about security, from a non-root
// image, with and without the webhook; and with readOnlyRootFilesystem.
func testHardenedPod(ctx context.Context, t *testing.T, optedIn, plain string) {
	type want struct {
		capsNone   bool
		noNewPrivs string
		seccomp    string
	}
	cases := []struct {
		name     string
		ns       string
		readOnly bool
		want     want
	}{
		{"with the webhook", optedIn, false, want{true, "1", "2"}},
		{"with the webhook, readOnlyRootFilesystem", optedIn, true, want{true, "1", "2"}},
		// Without it: the runtime's defaults. A non-root user has no
		// effective capabilities anyway; no_new_privs and seccomp are off.
		{"without the webhook", plain, false, want{true, "0", "0"}},
		{"without the webhook, readOnlyRootFilesystem", plain, true, want{true, "0", "0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pod := probePod(tc.ns, "hardened", testImages.NonRoot)
			if tc.readOnly {
				pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: new(true)}
			}
			o := controlPlane.RunPod(ctx, pod, 60*time.Second)
			if o.State != "Running" {
				t.Fatalf("pod did not run: %s", o)
			}
			defer controlPlane.DeletePods(ctx, []framework.PodOutcome{o})
			r, err := controlPlane.ProbeReport(ctx, o.Pod, "app")
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s sees: %s (annotation %q)", o.Pod.Name, r, o.Pod.Annotations[defaults.DefaultedAnnotation])
			if r.UID != images.NonRootUID {
				t.Errorf("uid %d, want the image's %d", r.UID, images.NonRootUID)
			}
			if (r.CapEff == images.NoCapabilities) != tc.want.capsNone {
				t.Errorf("CapEff %s", r.CapEff)
			}
			if r.NoNewPrivs != tc.want.noNewPrivs {
				t.Errorf("NoNewPrivs %s, want %s", r.NoNewPrivs, tc.want.noNewPrivs)
			}
			if r.Seccomp != tc.want.seccomp {
				t.Errorf("Seccomp mode %s, want %s", r.Seccomp, tc.want.seccomp)
			}
			if tc.ns == optedIn && !r.TmpWritable {
				t.Errorf("/tmp is not writable with the webhook")
			}
			if tc.ns == plain && r.TmpWritable == tc.readOnly {
				// Without the webhook a read-only root leaves no /tmp:
				// the gap tmp-emptydir fills.
				t.Errorf("/tmp writable=%v without the webhook, readOnlyRootFilesystem=%v", r.TmpWritable, tc.readOnly)
			}
			if r.RootReadOnly != tc.readOnly {
				t.Errorf("/ mounted read-only=%v, want %v", r.RootReadOnly, tc.readOnly)
			}
			if r.RootWritable {
				t.Errorf("/ writable by uid %d (the image's / is root's, 0755)", r.UID)
			}
		})
	}
}

// testImageUsers asserts what happens today to images that run as root or
// as a named user, and to a root init container that chowns a volume.
func testImageUsers(ctx context.Context, t *testing.T, optedIn, plain string) {
	const chownPath = "/data"
	chownPod := func(ns string) *corev1.Pod {
		p := probePod(ns, "chown", testImages.NonRoot)
		p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.InitContainers = []corev1.Container{{
			Name:            "fix-permissions",
			Image:           testImages.NonRoot,
			Args:            []string{"-exit", "-chown", chownPath},
			SecurityContext: &corev1.SecurityContext{RunAsUser: new(int64(0))},
			VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: chownPath}},
		}}
		return p
	}
	cases := []struct {
		name   string
		pod    *corev1.Pod
		state  string
		reason string // and message fragment, when it fails
		msg    string
		uid    int // when it runs
	}{
		{"root image (no USER), with the webhook", probePod(optedIn, "root-empty", testImages.RootEmpty),
			"Failed", "CreateContainerConfigError", "container has runAsNonRoot and image will run as root", 0},
		{"root image (no USER), without", probePod(plain, "root-empty", testImages.RootEmpty), "Running", "", "", 0},
		{"root image (USER 0), with the webhook", probePod(optedIn, "root-zero", testImages.RootZero),
			"Failed", "CreateContainerConfigError", "container has runAsNonRoot and image will run as root", 0},
		{"root image (USER 0), without", probePod(plain, "root-zero", testImages.RootZero), "Running", "", "", 0},
		{"named user image (USER app), with the webhook", probePod(optedIn, "named", testImages.Named),
			"Failed", "CreateContainerConfigError", "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root", 0},
		{"named user image (USER app), without", probePod(plain, "named", testImages.Named), "Running", "", "", images.NamedUID},
		// runAsUser 0 keeps the init container out of runAsNonRoot and out
		// of drop-all-capabilities (a container that needs root keeps the
		// runtime's capabilities, with a warning): the chown works.
		{"chown init container runAsUser 0, with the webhook", chownPod(optedIn), "Running", "", "", images.NonRootUID},
		{"chown init container runAsUser 0, without", chownPod(plain), "Running", "", "", images.NonRootUID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := controlPlane.RunPod(ctx, tc.pod, 60*time.Second)
			defer controlPlane.DeletePods(ctx, []framework.PodOutcome{o})
			t.Logf("outcome: %s (annotation %q)", o, annotation(o))
			if o.State != tc.state || o.Reason != tc.reason || !strings.Contains(o.Message, tc.msg) {
				t.Fatalf("got %s, want %s %s %q", o, tc.state, tc.reason, tc.msg)
			}
			if len(tc.pod.Spec.InitContainers) > 0 {
				r, err := controlPlane.ProbeReport(ctx, o.Pod, "fix-permissions")
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("init container sees: %s", r)
				if r.UID != 0 {
					t.Errorf("init container uid %d, want 0", r.UID)
				}
				if r.ChownError != "" || r.CapEff == images.NoCapabilities {
					t.Errorf("the root init container cannot chown: %s", r)
				}
			}
			if tc.state == "Running" {
				r, err := controlPlane.ProbeReport(ctx, o.Pod, "app")
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("app sees: %s", r)
				if r.UID != tc.uid {
					t.Errorf("uid %d, want %d", r.UID, tc.uid)
				}
			}
		})
	}
}

func annotation(o framework.PodOutcome) string {
	if o.Pod == nil {
		return ""
	}
	return o.Pod.Annotations[defaults.DefaultedAnnotation]
}

// testDebug adds an ephemeral container with `kubectl debug` to a running
// pod and reads what it sees.
func testDebug(ctx context.Context, t *testing.T, optedIn string) {
	kubectl := filepath.Join(controlPlane.BinDir, "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Fatalf("kubectl missing from %s: %v", controlPlane.BinDir, err)
	}
	o := controlPlane.RunPod(ctx, probePod(optedIn, "debug-target", testImages.NonRoot), 60*time.Second)
	if o.State != "Running" {
		t.Fatalf("target pod did not run: %s", o)
	}
	defer controlPlane.DeletePods(ctx, []framework.PodOutcome{o})
	cmd := exec.CommandContext(ctx, kubectl, "--kubeconfig", controlPlane.Kubeconfig, "-n", optedIn,
		"debug", o.Pod.Name, "--image", testImages.NonRoot, "--container", "debugger", "--attach=false")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl debug: %v\n%s", err, out.String())
	}
	t.Logf("kubectl debug: %s", strings.TrimSpace(out.String()))
	deadline := time.Now().Add(60 * time.Second)
	var p *corev1.Pod
	for {
		var err error
		p, err = controlPlane.Client.CoreV1().Pods(optedIn).Get(ctx, o.Pod.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Status.EphemeralContainerStatuses) > 0 {
			s := p.Status.EphemeralContainerStatuses[0]
			if s.State.Running != nil {
				break
			}
			if w := s.State.Waiting; w != nil && framework.FatalReasons[w.Reason] {
				t.Fatalf("ephemeral container: %s: %s", w.Reason, w.Message)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ephemeral container not running after 60s: %+v", p.Status.EphemeralContainerStatuses)
		}
		time.Sleep(250 * time.Millisecond)
	}
	ec := p.Spec.EphemeralContainers[0]
	t.Logf("ephemeral container securityContext: %s", toJSON(ec.SecurityContext))
	if sc := ec.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !hasCap(sc.Capabilities.Drop, "ALL") {
		t.Errorf("the ephemeral container did not get its defaults: %s", toJSON(ec.SecurityContext))
	}
	r, err := controlPlane.ProbeReport(ctx, p, "debugger")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("debugger sees: %s", r)
	if r.UID != images.NonRootUID || r.CapEff != images.NoCapabilities || r.NoNewPrivs != "1" || r.Seccomp != "2" {
		t.Errorf("ephemeral container runs without its defaults: %s", r)
	}
}

func hasCap(list []corev1.Capability, c corev1.Capability) bool {
	for _, x := range list {
		if x == c {
			return true
		}
	}
	return false
}

// testStartLatency creates the same pod, one after another, in both
// namespaces, and reports the time from the create call to Running.
func testStartLatency(ctx context.Context, t *testing.T, optedIn, plain string) {
	const n = 5
	for _, c := range []struct{ name, ns string }{{"with the webhook", optedIn}, {"without", plain}} {
		var ds []time.Duration
		for range n {
			o := controlPlane.RunPod(ctx, probePod(c.ns, "latency", testImages.NonRoot), 60*time.Second)
			controlPlane.DeletePods(ctx, []framework.PodOutcome{o})
			if o.State != "Running" {
				t.Fatalf("%s: pod did not run: %s", c.name, o)
			}
			ds = append(ds, o.Elapsed)
		}
		t.Logf("create to Running %s: median %s over %d pods (%v)", c.name, median(ds).Round(time.Millisecond), n, roundAll(ds))
	}
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
