//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// TestWebhook runs the real `secure-defaults serve` behind the real
// kube-apiserver and checks, through client-go, what users of the webhook
// rely on. The parts run in order and share one webhook process; the
// webhook-down parts come last and restart it.
func TestWebhook(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir := t.TempDir() // outlives the setup subtest: the binary, its log
	var w *webhook
	var optedIn string // restricted, opted in; the webhook is effective there
	if !timed(t, "setup: build, start and register the webhook", func(t *testing.T) {
		var err error
		start := time.Now()
		if w, err = buildWebhook(ctx, dir); err != nil {
			t.Fatal(err)
		}
		t.Logf("built the binary in %s", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		if err := w.start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Logf("webhook ready in %s", time.Since(start).Round(time.Millisecond))
		start = time.Now()
		if err := register(ctx, webhookConfig(w, admissionregistrationv1.Fail)); err != nil {
			t.Fatal(err)
		}
		optedIn = namespace(ctx, t, "restricted-optin-", true, psaRestricted)
		if err := waitEffective(ctx, optedIn); err != nil {
			t.Fatal(err)
		}
		t.Logf("configuration effective %s after registration", time.Since(start).Round(time.Millisecond))
	}) {
		t.FailNow()
	}
	t.Cleanup(func() {
		_ = controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), webhookConfigName, metav1.DeleteOptions{})
		if err := w.stop(); err != nil {
			t.Errorf("stopping the webhook: %v", err)
		}
	})

	timed(t, "plain pod: admitted by restricted with every default", func(t *testing.T) {
		testPlainPod(ctx, t, optedIn)
	})
	timed(t, "corpus: stored pods are what mutate predicts", func(t *testing.T) {
		testCorpus(ctx, t)
	})
	timed(t, "special pods", func(t *testing.T) {
		testSpecialPods(ctx, t, optedIn)
	})
	timed(t, "ephemeral container gets container defaults only", func(t *testing.T) {
		testEphemeral(ctx, t, optedIn)
	})
	timed(t, "server-side dry run mutates and stores nothing", func(t *testing.T) {
		testDryRun(ctx, t, optedIn)
	})
	timed(t, "second admission changes nothing", func(t *testing.T) {
		testSecondAdmission(ctx, t, w, optedIn)
	})
	timed(t, "reinvocation after a later webhook changes nothing", func(t *testing.T) {
		testReinvocation(ctx, t, w, optedIn)
	})
	timed(t, "metrics count what happened", func(t *testing.T) {
		testMetrics(ctx, t, w)
	})
	timed(t, "webhook down", func(t *testing.T) {
		testWebhookDown(ctx, t, w)
	})
}

// allRulesButTmp is the defaulted annotation of a Linux pod that sets nothing
// and has a writable root filesystem: the contract's four rules, sorted.
const allRulesButTmp = "drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default"

func testPlainPod(ctx context.Context, t *testing.T, optedIn string) {
	pod := plainPod(optedIn)
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "helper", Image: "registry.example/helper:1.0"})
	created, err := controlPlane.Client.CoreV1().Pods(optedIn).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create of a plain pod in an opted-in restricted namespace: %v", err)
	}
	stored, err := controlPlane.Client.CoreV1().Pods(optedIn).Get(ctx, created.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := stored.Annotations[defaults.DefaultedAnnotation]; got != allRulesButTmp {
		t.Errorf("annotation %s = %q, want %q", defaults.DefaultedAnnotation, got, allRulesButTmp)
	}
	psc := stored.Spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot not true: %s", toJSON(psc))
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext.seccompProfile not RuntimeDefault: %s", toJSON(psc))
	}
	for _, c := range stored.Spec.Containers {
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation not false: %s", c.Name, toJSON(sc))
		}
		if sc == nil || sc.Capabilities == nil || !apiequality.Semantic.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
			t.Errorf("container %s: capabilities.drop not [ALL]: %s", c.Name, toJSON(sc))
		}
	}
	for _, v := range stored.Spec.Volumes {
		if v.EmptyDir != nil {
			t.Errorf("a writable root filesystem got a /tmp volume: %s", toJSON(v))
		}
	}

	// The promise: without the opt-in label, the same pod is rejected.
	plainNS := namespace(ctx, t, "restricted-plain-", false, psaRestricted)
	_, err = controlPlane.Client.CoreV1().Pods(plainNS).Create(ctx, plainPod(plainNS), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
		t.Errorf("create of the same pod in a restricted namespace without the opt-in label: got %v, want Forbidden by Pod Security restricted", err)
	}
}

// special is a pod with a shape the rules treat apart, where it must be
// created, and what must (not) be set on it.
type special struct {
	name  string
	level string // Pod Security enforce level of the namespace
	pod   func(ns string) *corev1.Pod
	check func(t *testing.T, stored *corev1.Pod)
}

func testSpecialPods(ctx context.Context, t *testing.T, restrictedNS string) {
	privilegedNS := namespace(ctx, t, "privileged-optin-", true, psaPrivileged)
	noLinuxFields := func(t *testing.T, p *corev1.Pod) {
		if sc := p.Spec.SecurityContext; sc != nil && (sc.SeccompProfile != nil || sc.SELinuxOptions != nil || sc.RunAsUser != nil || sc.RunAsGroup != nil) {
			t.Errorf("Windows pod got Linux-only pod fields: %s", toJSON(sc))
		}
		for _, c := range containers(p) {
			if sc := c.sc; sc != nil && (sc.SeccompProfile != nil || sc.Capabilities != nil || sc.AllowPrivilegeEscalation != nil ||
				sc.ReadOnlyRootFilesystem != nil || sc.RunAsUser != nil || sc.ProcMount != nil || sc.SELinuxOptions != nil) {
				t.Errorf("Windows pod: %s got Linux-only fields: %s", c.name, toJSON(sc))
			}
		}
	}
	cases := []special{
		{
			name: "Windows pod", level: psaRestricted,
			pod: func(ns string) *corev1.Pod {
				p := podNamed(ns, "windows", corev1.Container{Name: "iis", Image: "mcr.microsoft.com/windows/servercore/iis:windowsservercore-ltsc2022"})
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				return p
			},
			check: noLinuxFields,
		},
		{
			name: "Windows HostProcess pod", level: psaPrivileged,
			pod: func(ns string) *corev1.Pod {
				p := podNamed(ns, "hostprocess", corev1.Container{Name: "exporter", Image: "ghcr.io/prometheus-community/windows-exporter:0.31.0"})
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
				p.Spec.HostNetwork = true
				p.Spec.SecurityContext = &corev1.PodSecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{
					HostProcess: ptr.To(true), RunAsUserName: ptr.To(`NT AUTHORITY\system`),
				}}
				return p
			},
			check: func(t *testing.T, p *corev1.Pod) {
				noLinuxFields(t, p)
				if sc := p.Spec.SecurityContext; sc.RunAsNonRoot != nil {
					t.Errorf("HostProcess pod (runs as SYSTEM) got runAsNonRoot: %s", toJSON(sc))
				}
			},
		},
		{
			name: "native sidecar", level: psaRestricted,
			pod: func(ns string) *corev1.Pod {
				p := podNamed(ns, "sidecar", corev1.Container{Name: "app", Image: "registry.example/app:1.0"})
				p.Spec.InitContainers = []corev1.Container{{
					Name: "proxy", Image: "registry.example/proxy:1.0", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				}}
				return p
			},
			check: func(t *testing.T, p *corev1.Pod) {
				sc := p.Spec.InitContainers[0].SecurityContext
				if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil {
					t.Errorf("sidecar did not get the container defaults: %s", toJSON(sc))
				}
			},
		},
		{
			name: "readOnlyRootFilesystem pod", level: psaRestricted,
			pod: func(ns string) *corev1.Pod {
				return podNamed(ns, "readonly", corev1.Container{
					Name: "api", Image: "registry.example/api:1.0",
					SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true), RunAsUser: ptr.To[int64](10001)},
				})
			},
			check: func(t *testing.T, p *corev1.Pod) {
				if !strings.Contains(p.Annotations[defaults.DefaultedAnnotation], "tmp-emptydir") {
					t.Errorf("annotation %q lacks tmp-emptydir", p.Annotations[defaults.DefaultedAnnotation])
				}
				c := p.Spec.Containers[0]
				var mount *corev1.VolumeMount
				for i := range c.VolumeMounts {
					if c.VolumeMounts[i].MountPath == "/tmp" {
						mount = &c.VolumeMounts[i]
					}
				}
				if mount == nil {
					t.Fatalf("no volume mounted at /tmp: %s", toJSON(c.VolumeMounts))
				}
				for _, v := range p.Spec.Volumes {
					if v.Name == mount.Name && v.EmptyDir == nil {
						t.Errorf("/tmp is mounted from %s, want an emptyDir", toJSON(v))
					}
				}
				if !hasVolume(p, mount.Name) {
					t.Errorf("/tmp mount names volume %q, which the pod lacks", mount.Name)
				}
				if sc := c.SecurityContext; *sc.RunAsUser != 10001 || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("user's runAsUser/readOnlyRootFilesystem changed: %s", toJSON(sc))
				}
			},
		},
		{
			name: "privileged container", level: psaPrivileged,
			pod: func(ns string) *corev1.Pod {
				return podNamed(ns, "privileged", corev1.Container{
					Name: "csi", Image: "registry.example/csi:1.0",
					SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				})
			},
			check: func(t *testing.T, p *corev1.Pod) {
				sc := p.Spec.Containers[0].SecurityContext
				if sc.AllowPrivilegeEscalation != nil || sc.Privileged == nil || !*sc.Privileged {
					t.Errorf("privileged container: want privileged kept and no allowPrivilegeEscalation, got %s", toJSON(sc))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ns := restrictedNS
			if tc.level == psaPrivileged {
				ns = privilegedNS
			}
			input := tc.pod(ns)
			want, _ := predict(input)
			created, err := controlPlane.Client.CoreV1().Pods(ns).Create(ctx, input.DeepCopy(), metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create in a %s namespace: %v", tc.level, err)
			}
			for _, d := range ruleOwnedDiff(created, want, input) {
				t.Errorf("stored pod differs from defaults.Apply's prediction: %s", d)
			}
			for _, d := range keptUserFields(created, input) {
				t.Errorf("user's value changed: %s", d)
			}
			tc.check(t, created)
		})
	}
}

func podNamed(ns, name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: containers},
	}
}

func testEphemeral(ctx context.Context, t *testing.T, ns string) {
	pods := controlPlane.Client.CoreV1().Pods(ns)
	before, err := pods.Create(ctx, plainPod(ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// What `kubectl debug -it POD --image=busybox --target=app` sends.
	update := before.DeepCopy()
	update.Spec.EphemeralContainers = append(update.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Name: "debugger", Image: "busybox:1.37", Stdin: true, TTY: true,
			TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent,
		},
		TargetContainerName: "app",
	})
	want := update.DeepCopy()
	res := defaults.ApplyEphemeral(want, before.Spec.EphemeralContainers, defaults.Options{})
	if !res.Changed() {
		t.Errorf("defaults.ApplyEphemeral changed nothing on a bare ephemeral container")
	}
	after, err := pods.UpdateEphemeralContainers(ctx, before.Name, update, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("adding an ephemeral container: %v", err)
	}
	if len(after.Spec.EphemeralContainers) != 1 {
		t.Fatalf("pod has %d ephemeral containers, want 1", len(after.Spec.EphemeralContainers))
	}
	sc := after.Spec.EphemeralContainers[0].SecurityContext
	if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !apiequality.Semantic.DeepEqual(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("ephemeral container lacks the container defaults: %s", toJSON(sc))
	}
	if w := want.Spec.EphemeralContainers[0].SecurityContext; !apiequality.Semantic.DeepEqual(sc, w) {
		t.Errorf("ephemeral container securityContext = %s, want what defaults.ApplyEphemeral predicts: %s", toJSON(sc), toJSON(w))
	}
	// Nothing else in the pod changes.
	a, b := after.DeepCopy(), before.DeepCopy()
	a.Spec.EphemeralContainers, b.Spec.EphemeralContainers = nil, nil
	if !apiequality.Semantic.DeepEqual(a.Spec, b.Spec) {
		t.Errorf("pod spec outside ephemeralContainers changed:\nbefore %s\nafter  %s", toJSON(b.Spec), toJSON(a.Spec))
	}
	if !apiequality.Semantic.DeepEqual(a.Annotations, b.Annotations) || !apiequality.Semantic.DeepEqual(a.Labels, b.Labels) {
		t.Errorf("pod metadata changed: annotations %v -> %v, labels %v -> %v", b.Annotations, a.Annotations, b.Labels, a.Labels)
	}
}

func testDryRun(ctx context.Context, t *testing.T, ns string) {
	pods := controlPlane.Client.CoreV1().Pods(ns)
	pod := plainPod(ns)
	pod.GenerateName, pod.Name = "", "dry-run"
	got, err := controlPlane.DryRunCreate(ctx, pod)
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	want, _ := predict(pod)
	for _, d := range ruleOwnedDiff(got, want, pod) {
		t.Errorf("dry-run result differs from the prediction: %s", d)
	}
	if got.Annotations[defaults.DefaultedAnnotation] == "" {
		t.Errorf("dry-run result is not mutated")
	}
	if _, err := pods.Get(ctx, "dry-run", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get of the dry-run pod: got %v, want NotFound (nothing stored)", err)
	}
}

func testSecondAdmission(ctx context.Context, t *testing.T, w *webhook, ns string) {
	first, err := controlPlane.DryRunCreate(ctx, plainPod(ns))
	if err != nil {
		t.Fatal(err)
	}
	again := first.DeepCopy()
	again.Name, again.UID, again.ResourceVersion, again.CreationTimestamp = "", "", "", metav1.Time{}
	again.GenerateName = "again-"

	// Straight to the webhook: the mutated pod needs no patch.
	resp, err := w.reviewCreate(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Allowed || resp.Patch != nil || resp.PatchType != nil {
		t.Errorf("review of the mutated pod: allowed=%v patchType=%v patch=%s, want allowed with no patch", resp.Allowed, resp.PatchType, resp.Patch)
	}

	// Through the API server: the rule-owned parts come back as they went in.
	second, err := controlPlane.DryRunCreate(ctx, again)
	if err != nil {
		t.Fatalf("re-submitting the mutated pod: %v", err)
	}
	for _, d := range ruleOwnedDiff(second, first, again) {
		t.Errorf("second admission changed the pod: %s", d)
	}
}

// counts are metric samples keyed as metrics() returns them.
type counts map[string]float64

func reviewsKey(operation, result string) string {
	return fmt.Sprintf(`secure_defaults_admission_reviews_total{operation=%q,result=%q}`, operation, result)
}

func ruleKey(rule string) string {
	return fmt.Sprintf(`secure_defaults_rule_applied_total{rule=%q}`, rule)
}

// expectReview adds to want what one review of a pod with result res counts.
func (want counts) expectReview(operation string, res defaults.Result) {
	switch {
	case res.OptedOut:
		want[reviewsKey(operation, "skipped")]++
	case res.Changed():
		want[reviewsKey(operation, "mutated")]++
		for _, id := range res.Applied {
			want[ruleKey(id)]++
		}
	default:
		want[reviewsKey(operation, "unchanged")]++
	}
}

// testMetrics performs a known set of admissions and checks that the
// counters moved by exactly what the rules predict for them. Nothing else
// talks to the webhook meanwhile (the parts run one after another).
func testMetrics(ctx context.Context, t *testing.T, w *webhook) {
	restricted := namespace(ctx, t, "metrics-restricted-", true, psaRestricted)
	privileged := namespace(ctx, t, "metrics-privileged-", true, psaPrivileged)
	outside := namespace(ctx, t, "metrics-outside-", false, "")

	readOnly := podNamed(restricted, "readonly", corev1.Container{
		Name: "api", Image: "registry.example/api:1.0",
		SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
	})
	optedOut := plainPod(privileged)
	optedOut.Annotations = map[string]string{defaults.InjectKey: defaults.InjectDisabled}
	creates := []*corev1.Pod{
		plainPod(restricted),
		plainPod(restricted),
		hardened(plainPod(restricted)),
		readOnly,
		optedOut,
		plainPod(outside), // not opted in: the webhook never sees it
	}

	before, err := w.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := counts{}
	for _, p := range creates {
		if p.Namespace != outside {
			_, res := predict(p)
			want.expectReview("CREATE", res)
		}
		if _, err := controlPlane.Client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s in %s: %v", p.GenerateName, p.Namespace, err)
		}
	}
	// One kubectl-debug style update.
	target, err := controlPlane.Client.CoreV1().Pods(restricted).Create(ctx, hardened(plainPod(restricted)), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, res := predict(hardened(plainPod(restricted)))
	want.expectReview("CREATE", res)
	update := target.DeepCopy()
	update.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name: "debugger", Image: "busybox:1.37", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}}}
	predicted := update.DeepCopy()
	want.expectReview("UPDATE", defaults.ApplyEphemeral(predicted, nil, defaults.Options{}))
	if _, err := controlPlane.Client.CoreV1().Pods(restricted).UpdateEphemeralContainers(ctx, target.Name, update, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	after, err := w.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if got := after[k] - before[k]; got != want[k] {
			t.Errorf("%s grew by %v, want %v", k, got, want[k])
		}
	}
	for _, id := range defaults.RuleIDs() {
		if _, ok := after[ruleKey(id)]; !ok {
			t.Errorf("%s is not exposed", ruleKey(id))
		}
	}
	t.Logf("expected increments: %v", want)
}

func testWebhookDown(ctx context.Context, t *testing.T, w *webhook) {
	restricted := namespace(ctx, t, "down-restricted-", true, psaRestricted)
	baseline := namespace(ctx, t, "down-baseline-", true, "baseline")
	outside := namespace(ctx, t, "down-outside-", false, psaRestricted)
	pods := controlPlane.Client.CoreV1()

	if err := w.stop(); err != nil {
		t.Fatalf("stopping the webhook: %v", err)
	}
	defer func() {
		// Leave the cluster as found: webhook up, Fail, effective.
		if err := w.start(ctx); err != nil {
			t.Errorf("restarting the webhook: %v", err)
			return
		}
		if err := register(ctx, webhookConfig(w, admissionregistrationv1.Fail)); err != nil {
			t.Error(err)
		}
		if err := waitEffective(ctx, restricted); err != nil {
			t.Errorf("after the restart: %v", err)
		}
	}()

	t.Run("failurePolicy Fail rejects creates in opted-in namespaces only", func(t *testing.T) {
		start := time.Now()
		_, err := pods.Pods(baseline).Create(ctx, plainPod(baseline), metav1.CreateOptions{})
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("create in an opted-in namespace with the webhook down: got %v, want failed calling webhook", err)
		} else {
			t.Logf("rejected in %s: %v", time.Since(start).Round(time.Millisecond), err)
		}
		if _, err := pods.Pods(outside).Create(ctx, hardened(plainPod(outside)), metav1.CreateOptions{}); err != nil {
			t.Errorf("create in a namespace that did not opt in: %v", err)
		}
	})

	t.Run("failurePolicy Ignore admits unmutated", func(t *testing.T) {
		if err := register(ctx, webhookConfig(w, admissionregistrationv1.Ignore)); err != nil {
			t.Fatal(err)
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := controlPlane.WaitForDryRun(wctx, plainPod(baseline), func(_ *corev1.Pod, err error) bool { return err == nil }); err != nil {
			t.Fatal(err)
		}
		created, err := pods.Pods(baseline).Create(ctx, plainPod(baseline), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create in an opted-in baseline namespace: %v", err)
		}
		if a := created.Annotations[defaults.DefaultedAnnotation]; a != "" || created.Spec.Containers[0].SecurityContext != nil {
			t.Errorf("pod admitted with the webhook down was mutated: annotation %q, container securityContext %s", a, toJSON(created.Spec.Containers[0].SecurityContext))
		}
		// The trade-off: in a restricted namespace, Pod Security now rejects
		// the pod the webhook would have fixed.
		_, err = pods.Pods(restricted).Create(ctx, plainPod(restricted), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted`) {
			t.Errorf("create in an opted-in restricted namespace with the webhook down under Ignore: got %v, want Forbidden by Pod Security", err)
		}
	})
}

// testReinvocation registers a second webhook that runs after ours and adds a
// label; with reinvocationPolicy IfNeeded the API server then calls ours
// again on the already defaulted pod, which must answer without a patch.
func testReinvocation(ctx context.Context, t *testing.T, w *webhook, ns string) {
	labeler, err := startLabeler(t)
	if err != nil {
		t.Fatal(err)
	}
	cfg := labeler.config()
	if _, err := controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("deleting the labeler: %v", err)
		}
	}()
	pod := plainPod(ns)
	pod.Labels = map[string]string{"app": "reinvoked"}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := controlPlane.WaitForMutation(wctx, pod, func(p *corev1.Pod) bool { return p.Labels[labelerKey] != "" }); err != nil {
		t.Fatal(err)
	}

	before, err := w.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, res := predict(pod)
	stored, err := controlPlane.Client.CoreV1().Pods(ns).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	after, err := w.metrics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stored.Labels[labelerKey] == "" {
		t.Errorf("the second webhook did not run: labels %v", stored.Labels)
	}
	for _, d := range ruleOwnedDiff(stored, want, pod) {
		t.Errorf("stored pod differs from the prediction: %s", d)
	}
	// First call: the defaults; the reinvocation: nothing left to do.
	expect := counts{}
	expect.expectReview("CREATE", res)
	expect.expectReview("CREATE", defaults.Result{})
	for _, k := range []string{reviewsKey("CREATE", "mutated"), reviewsKey("CREATE", "unchanged")} {
		if got := after[k] - before[k]; got != expect[k] {
			t.Errorf("%s grew by %v, want %v (one defaulting call, one reinvocation without a patch)", k, got, expect[k])
		}
	}
}
