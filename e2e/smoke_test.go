//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/e2e/framework/images"
)

// controlPlane is shared by every test in the package; TestMain starts it,
// with a node unless nodeEnv is "off".
var controlPlane *framework.ControlPlane

// The test images, the registry serving them and a directory to build more
// in; set by TestMain when there is a node.
var (
	testImages    *images.Refs
	imageRegistry *images.Registry
	imageWorkDir  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// Backstop for anything a test started and did not stop.
	defer framework.StopAll()

	// Without SECURE_DEFAULTS_E2E_BINS this builds the binaries, which
	// takes minutes the first time: only `go test -timeout` bounds it.
	bins, err := framework.BinDir(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := framework.Options{BinDir: bins}
	if nodeEnabled() {
		start := time.Now()
		reg, err := images.StartRegistry()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer reg.Close()
		root, err := framework.RepoRoot()
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		imgDir, err := os.MkdirTemp("", "secure-defaults-e2e-images-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		defer os.RemoveAll(imgDir)
		if testImages, err = images.PushTestImages(ctx, reg, root, imgDir); err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		imageRegistry, imageWorkDir = reg, imgDir
		fmt.Fprintf(os.Stderr, "e2e: test images built and pushed to %s in %s\n", reg.Host, time.Since(start).Round(10*time.Millisecond))
		opts.Node = &framework.NodeOptions{
			SandboxImage:        testImages.Pause,
			PlainHTTPRegistries: []string{reg.Host},
			Logf:                func(f string, a ...any) { fmt.Fprintf(os.Stderr, "e2e: "+f+"\n", a...) },
		}
	}
	start := time.Now()
	cp, err := framework.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: starting the control plane:", err)
		return 1
	}
	what := "control plane"
	if cp.Node != nil {
		what = "control plane and node"
	}
	fmt.Fprintf(os.Stderr, "e2e: %s ready in %s at %s (logs in %s)\n",
		what, time.Since(start).Round(10*time.Millisecond), cp.Config.Host, cp.Dir)
	controlPlane = cp

	code := m.Run()
	if code != 0 {
		cp.KeepDir()
		cp.DumpLogs(os.Stderr, 40)
		fmt.Fprintln(os.Stderr, "e2e: control plane logs kept in", cp.Dir)
	}
	start = time.Now()
	if err := cp.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping the control plane:", err)
		if code == 0 {
			code = 1
		}
	}
	fmt.Fprintf(os.Stderr, "e2e: stopped and cleaned up in %s\n", time.Since(start).Round(10*time.Millisecond))
	return code
}

// nodeEnv turns the node (containerd and kubelet, root only) off when set
// to "off": the pod tests then skip, saying so.
const nodeEnv = "SECURE_DEFAULTS_E2E_NODE"

func nodeEnabled() bool { return os.Getenv(nodeEnv) != "off" }

// plainPod has no securityContext at all, as most manifests in the wild.
func plainPod(namespace string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "smoke-", Namespace: namespace},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1.0"}},
		},
	}
}

// hardened sets what Pod Security "restricted" requires of a Linux pod.
func hardened(pod *corev1.Pod) *corev1.Pod {
	pod = pod.DeepCopy()
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for i := range pod.Spec.Containers {
		pod.Spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	return pod
}

// TestSmokePodSecurityRestricted proves the harness: the API server runs
// Pod Security admission for real, so in a "restricted" namespace a plain
// pod is rejected and a hardened one is stored.
func TestSmokePodSecurityRestricted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cp := controlPlane

	ns, err := cp.CreateNamespace(ctx, "smoke-restricted-", map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted",
	})
	if err != nil {
		t.Fatal(err)
	}
	pods := cp.Client.CoreV1().Pods(ns.Name)

	t.Run("plain pod is rejected by Pod Security", func(t *testing.T) {
		_, err := pods.Create(ctx, plainPod(ns.Name), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("create of a plain pod: got %v, want Forbidden by Pod Security", err)
		}
		for _, want := range []string{`violates PodSecurity "restricted`, "allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile", "capabilities"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("rejection does not mention %q: %v", want, err)
			}
		}
	})

	t.Run("hardened pod is admitted and stored", func(t *testing.T) {
		created, err := pods.Create(ctx, hardened(plainPod(ns.Name)), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create of a hardened pod: %v", err)
		}
		stored, err := pods.Get(ctx, created.Name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get the stored pod: %v", err)
		}
		if stored.Spec.ServiceAccountName != "default" {
			t.Errorf("stored pod's serviceAccountName = %q, want the namespace's default ServiceAccount", stored.Spec.ServiceAccountName)
		}
		if sc := stored.Spec.Containers[0].SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("stored container securityContext lost allowPrivilegeEscalation=false: %+v", sc)
		}
	})

	t.Run("other namespaces are not restricted", func(t *testing.T) {
		open, err := cp.CreateNamespace(ctx, "smoke-unlabelled-", nil)
		if err != nil {
			t.Fatal(err)
		}
		p := plainPod(open.Name)
		if _, err := cp.DryRunCreate(ctx, p); err != nil {
			t.Fatalf("dry-run create of a plain pod in an unlabelled namespace: %v", err)
		}
	})
}
