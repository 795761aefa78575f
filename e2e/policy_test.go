//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/export"
)

// policyLabel selects the namespaces of this test's policy binding. The
// exported binding selects secure-defaults.dev/inject=enabled, which the
// webhook's namespaces carry too; here the two must not overlap.
const policyLabel = "test.secure-defaults.dev/policy"

// installPolicy creates the policy exported under cfg as name, and its
// binding, selecting the namespaces labelled policyLabel=name instead of
// the opt-in label, and removes them when t ends.
func installPolicy(ctx context.Context, t *testing.T, cfg *config.Configuration, name string) {
	t.Helper()
	p, err := export.Build(cfg, name)
	if err != nil {
		t.Fatal(err)
	}
	// The exported selector with this test's label in place of the opt-in
	// label: its other terms (never kube-system...) stay as exported.
	p.Binding.Spec.MatchResources.NamespaceSelector.MatchLabels = map[string]string{policyLabel: name}
	api := controlPlane.Client.AdmissionregistrationV1()
	if _, err := api.MutatingAdmissionPolicies().Create(ctx, p.Policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the policy: %v", err)
	}
	t.Cleanup(func() {
		_ = api.MutatingAdmissionPolicies().Delete(context.Background(), p.Policy.Name, metav1.DeleteOptions{})
	})
	if _, err := api.MutatingAdmissionPolicyBindings().Create(ctx, p.Binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the binding: %v", err)
	}
	t.Cleanup(func() {
		_ = api.MutatingAdmissionPolicyBindings().Delete(context.Background(), p.Binding.Name, metav1.DeleteOptions{})
	})
}

// policyName names the policy exported under the shipped configuration.
const policyName = "secure-defaults-e2e"

// policyNamespace creates a namespace bound to the policy named policy (and
// not opted in to the webhook), with Pod Security level level.
func policyNamespace(ctx context.Context, t *testing.T, prefix, policy, level string) string {
	t.Helper()
	ns, err := controlPlane.CreateNamespace(ctx, prefix, map[string]string{policyLabel: policy, psaEnforce: level})
	if err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// TestMutatingAdmissionPolicy checks the exported policy on the real API
// server against the real webhook: every corpus pod is created (dry run) in
// a namespace bound to the policy and in one served by the webhook, and the
// two results must be equal but for the differences export documents.
func TestMutatingAdmissionPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dir := t.TempDir()
	var w *webhook
	var polRestricted, polPrivileged, whRestricted, whPrivileged string
	parent := t
	if !timed(t, "setup: the webhook and the policy", func(t *testing.T) {
		var err error
		if w, err = buildWebhook(ctx, dir); err != nil {
			t.Fatal(err)
		}
		if err := w.start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := register(ctx, webhookConfig(w, admissionregistrationv1.Fail)); err != nil {
			t.Fatal(err)
		}
		installPolicy(ctx, parent, config.Default(), policyName) // removed when the whole test ends
		whRestricted = namespace(ctx, t, "map-webhook-restricted-", true, psaRestricted)
		whPrivileged = namespace(ctx, t, "map-webhook-privileged-", true, psaPrivileged)
		polRestricted = policyNamespace(ctx, t, "map-policy-restricted-", policyName, psaRestricted)
		polPrivileged = policyNamespace(ctx, t, "map-policy-privileged-", policyName, psaPrivileged)
		if err := waitEffective(ctx, whRestricted); err != nil {
			t.Fatal(err)
		}
		if err := waitEffective(ctx, polRestricted); err != nil {
			t.Fatalf("the policy never mutated a plain pod: %v", err)
		}
	}) {
		t.FailNow()
	}
	t.Cleanup(func() {
		_ = controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), webhookConfigName, metav1.DeleteOptions{})
		if err := w.stop(); err != nil {
			t.Errorf("stopping the webhook: %v", err)
		}
	})

	timed(t, "corpus: policy and webhook give the same pod", func(t *testing.T) {
		testPolicyCorpus(ctx, t, polRestricted, polPrivileged, whRestricted, whPrivileged)
	})
	timed(t, "documented difference tmp-volume-name", func(t *testing.T) {
		testTmpVolumeName(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "a repeated volume name is rejected with the policy too", func(t *testing.T) {
		testTmpDuplicateVolumes(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "documented difference ephemeral-containers", func(t *testing.T) {
		testPolicyEphemeral(ctx, t, polPrivileged)
	})
	timed(t, "documented difference tmp-mount-path", func(t *testing.T) {
		testTmpMountPath(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "documented difference annotation-size", func(t *testing.T) {
		testAnnotationSize(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "documented difference unicode-case", func(t *testing.T) {
		testUnicodeCase(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "documented difference warnings", func(t *testing.T) {
		testPolicyWarnings(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "kube-system and kube-node-lease are left alone however labelled", func(t *testing.T) {
		testPolicySystemNamespaces(ctx, t)
	})
	timed(t, "hundreds of containers stay within the CEL cost limits", func(t *testing.T) {
		testPolicyManyContainers(ctx, t, polRestricted, defaults.Options{})
	})
	timed(t, "hundreds of containers whose tmp-<name> is taken stay within the CEL cost limits", func(t *testing.T) {
		testPolicyManyTakenTmpNames(ctx, t, polRestricted, whRestricted)
	})
	timed(t, "opt-out and skip annotations", func(t *testing.T) {
		testPolicyOptOuts(ctx, t, polPrivileged, whPrivileged)
	})
	timed(t, "reinvoked after a later webhook injects a container", func(t *testing.T) {
		testPolicyReinvocation(ctx, t, polPrivileged)
	})
	timed(t, "a configuration: rules off, exclusions, no pod opt-out", func(t *testing.T) {
		testPolicyConfiguration(ctx, t)
	})
}

// TestMutatingAdmissionPolicyImageLookup pins image-lookup: a container
// whose image runs as root (its config names no user) is left to run as
// root by the webhook with imageLookup on, while the policy, which sees only
// the manifest, sets runAsNonRoot and drops its capabilities.
func TestMutatingAdmissionPolicyImageLookup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	reg := ilt.New(t, ilt.WithoutTLS())
	root := reg.Push(t, "root", "v1", ilt.Image(t, ""))
	startWebhookWithConfig(ctx, t, "imageLookup: {enabled: true, timeout: 5s}\n")
	const name = "secure-defaults-e2e-images"
	installPolicy(ctx, t, config.Default(), name)
	wh := namespace(ctx, t, "map-images-webhook-", true, psaPrivileged)
	pol := policyNamespace(ctx, t, "map-images-policy-", name, psaPrivileged)
	pod := func(ns string) *corev1.Pod {
		p := plainPod(ns)
		p.Spec.Containers[0].Image = root
		return p
	}
	// Wait for both with the loopback registry's image: the test asks no
	// other registry.
	for _, ns := range []string{wh, pol} {
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
		err := controlPlane.WaitForMutation(wctx, pod(ns), func(p *corev1.Pod) bool {
			return p.Annotations[defaults.DefaultedAnnotation] != ""
		})
		wcancel()
		if err != nil {
			t.Fatalf("%s: never defaulted: %v", ns, err)
		}
	}
	byPolicy, byWebhook, polErr, whErr := bothWays(ctx, pol, wh, pod)
	if polErr != nil || whErr != nil {
		t.Fatalf("rejected: policy %v, webhook %v", polErr, whErr)
	}
	if psc := byWebhook.Spec.SecurityContext; psc != nil && psc.RunAsNonRoot != nil {
		t.Errorf("webhook: runAsNonRoot %v for a root image", *psc.RunAsNonRoot)
	}
	if sc := byWebhook.Spec.Containers[0].SecurityContext; sc != nil && sc.Capabilities != nil {
		t.Errorf("webhook: capabilities %s for a root image", toJSON(sc.Capabilities))
	}
	if psc := byPolicy.Spec.SecurityContext; psc == nil || !ptr.Deref(psc.RunAsNonRoot, false) {
		t.Errorf("policy: pod securityContext %s, want runAsNonRoot: the difference is gone, update export.Differences", toJSON(psc))
	}
	if sc := byPolicy.Spec.Containers[0].SecurityContext; sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("policy: securityContext %s, want capabilities dropped", toJSON(sc))
	}
}

// testPolicyConfiguration exports the policy under a configuration that
// switches a rule off and optional ones on (read-only-root-filesystem, whose
// value tmp-emptydir reads; run-as-user and fs-group with their own IDs;
// no-service-account-token), excludes containers and images and ignores the pods'
// opt-outs, and checks every corpus pod against what the rules predict
// under the same configuration.
func testPolicyConfiguration(ctx context.Context, t *testing.T) {
	cfg, err := config.Decode([]byte(`apiVersion: config.secure-defaults.dev/v1alpha1
kind: Configuration
rules:
  drop-all-capabilities: {enabled: false}
  read-only-root-filesystem: {enabled: true}
  fs-group: {enabled: true, fsGroup: 2000}
  run-as-user: {enabled: true, runAsUser: 1001, runAsGroup: 1002}
  no-service-account-token: {enabled: true}
excludeContainers: ["istio-*", "log-?hipper"]
excludeImages: ["*/legacy/*"]
allowPodOptOut: false
`))
	if err != nil {
		t.Fatal(err)
	}
	const name = "secure-defaults-e2e-config"
	installPolicy(ctx, t, cfg, name)
	ns := policyNamespace(ctx, t, "map-config-", name, psaPrivileged)
	plain := namespace(ctx, t, "map-none-", false, psaPrivileged)
	if err := waitEffective(ctx, ns); err != nil {
		t.Fatalf("the policy never mutated a plain pod: %v", err)
	}
	// A pod whose ServiceAccount mounts no token: the one case where
	// no-service-account-token sets its field (otherwise the ServiceAccount
	// plugin has mounted the token before any webhook or policy runs).
	noToken := plainPod("")
	noToken.Spec.ServiceAccountName = "no-token"
	for _, n := range []string{ns, plain} {
		if _, err := controlPlane.Client.CoreV1().ServiceAccounts(n).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta:                   metav1.ObjectMeta{Name: "no-token"},
			AutomountServiceAccountToken: ptr.To(false),
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("500 containers, every rule on, exclusion patterns", func(t *testing.T) {
		testPolicyManyContainers(ctx, t, ns, cfg.Options())
	})
	// A container that names its own user but no group, next to one that
	// names neither: run-as-user goes per container, so no pod-level group
	// changes the first one's group.
	ownUser := plainPod("")
	ownUser.Spec.Containers = append(ownUser.Spec.Containers, corev1.Container{
		Name: "own-user", Image: "registry.example/app:1.0",
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To(int64(1000))},
	})
	corpus := append(loadCorpus(t),
		corpusPod{where: "account without token: Pod no-token", input: noToken},
		corpusPod{where: "a container names its own user: Pod own-user", input: ownUser})
	for _, cp := range corpus {
		t.Run(cp.where, func(t *testing.T) {
			if err := ensureServiceAccount(ctx, ns, cp.input.Spec.ServiceAccountName); err != nil {
				t.Fatal(err)
			}
			if err := ensureServiceAccount(ctx, plain, cp.input.Spec.ServiceAccountName); err != nil {
				t.Fatal(err)
			}
			input := forCreate(cp.input, ns, cp.where)
			byPolicy, err := controlPlane.DryRunCreate(ctx, input)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			// The rules see the pod as the API server's own admission
			// plugins leave it (the ServiceAccount token volume, which
			// no-service-account-token reads, included): what a namespace
			// without policy or webhook stores.
			before, err := controlPlane.DryRunCreate(ctx, forCreate(cp.input, plain, cp.where))
			if err != nil {
				t.Fatalf("rejected without the policy: %v", err)
			}
			want := before.DeepCopy()
			defaults.Apply(want, cfg.Options())
			if a, b := byPolicy.Spec.AutomountServiceAccountToken, want.Spec.AutomountServiceAccountToken; (a == nil) != (b == nil) || (a != nil && *a != *b) {
				t.Errorf("automountServiceAccountToken = %v, want %v", toJSON(a), toJSON(b))
			}
			if cp.input == noToken && ptr.Deref(byPolicy.Spec.AutomountServiceAccountToken, true) {
				t.Errorf("no-service-account-token did not set automountServiceAccountToken: false")
			}
			for _, d := range ruleOwnedDiff(withoutToken(byPolicy), withoutToken(want), withoutToken(before)) {
				t.Errorf("policy's pod differs from the rules' under the configuration: %s", d)
			}
		})
	}
}

// pinnedDifferences says, for each of export.Differences, what shows it:
// a test here that fails when the difference is gone, or why none can.
var pinnedDifferences = map[string]string{
	"image-lookup":         "TestMutatingAdmissionPolicyImageLookup",
	"warnings":             "testPolicyWarnings",
	"metrics":              "not testable: the policy runs inside the API server, which has no secure_defaults_* series",
	"audit":                "pkg/export TestShippedPolicyDecodesAsV1: the binding selects no inject=audit namespace",
	"ephemeral-containers": "testPolicyEphemeral",
	"tmp-volume-name":      "testTmpVolumeName, testPolicyManyTakenTmpNames",
	"tmp-mount-path":       "testTmpMountPath",
	"annotation-size":      "testAnnotationSize",
	"unicode-case":         "testUnicodeCase",
}

// TestDifferencesPinned fails when export documents a difference this file
// does not account for, or accounts for one export no longer documents.
func TestDifferencesPinned(t *testing.T) {
	ids := map[string]bool{}
	for _, d := range export.Differences {
		ids[d.ID] = true
		if pinnedDifferences[d.ID] == "" {
			t.Errorf("documented difference %s: no test pins it; add one to TestMutatingAdmissionPolicy and pinnedDifferences", d.ID)
		}
	}
	for id := range pinnedDifferences {
		if !ids[id] {
			t.Errorf("pinnedDifferences names %s, which export.Differences no longer lists", id)
		}
	}
}

// bothWays dry-runs the pod made by pod in the policy's namespace and in the
// webhook's.
func bothWays(ctx context.Context, pol, wh string, pod func(ns string) *corev1.Pod) (byPolicy, byWebhook *corev1.Pod, polErr, whErr error) {
	byPolicy, polErr = controlPlane.DryRunCreate(ctx, pod(pol))
	byWebhook, whErr = controlPlane.DryRunCreate(ctx, pod(wh))
	return byPolicy, byWebhook, polErr, whErr
}

// testTmpMountPath pins tmp-mount-path: a mount at /x/../tmp is /tmp to the
// webhook (path.Clean), which adds none; the policy adds its own /tmp mount
// as well, and the API server, which compares mount paths as written,
// admits the pod.
func testTmpMountPath(ctx context.Context, t *testing.T, pol, wh string) {
	byPolicy, byWebhook, polErr, whErr := bothWays(ctx, pol, wh, func(ns string) *corev1.Pod {
		p := plainPod(ns)
		p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/x/../tmp"}}
		return p
	})
	if polErr != nil || whErr != nil {
		t.Fatalf("rejected: policy %v, webhook %v", polErr, whErr)
	}
	if got := tmpMount(byWebhook.Spec.Containers[0]); got != "" {
		t.Errorf("webhook: added a /tmp mount of %s next to /x/../tmp", got)
	}
	if got := tmpMount(byPolicy.Spec.Containers[0]); got != "tmp-app" || !hasVolume(byPolicy, "tmp-app") {
		t.Errorf("policy: /tmp mount %q, volumes [%s], want tmp-app next to /x/../tmp: if the difference is gone, update export.Differences",
			got, volumeNames(byPolicy.Spec.Volumes))
	}
}

// testAnnotationSize pins annotation-size: annotations a few bytes under
// the API server's 256 KiB limit. The webhook defaults the pod and leaves
// the defaulted annotation out; the policy adds it, and the API server
// rejects the pod.
func testAnnotationSize(ctx context.Context, t *testing.T, pol, wh string) {
	const key = "example.com/filler"
	byPolicy, byWebhook, polErr, whErr := bothWays(ctx, pol, wh, func(ns string) *corev1.Pod {
		p := plainPod(ns)
		p.Annotations = map[string]string{key: strings.Repeat("x", 256*1024-len(key)-16)}
		return p
	})
	if whErr != nil {
		t.Fatalf("webhook: %v", whErr)
	}
	if v, ok := byWebhook.Annotations[defaults.DefaultedAnnotation]; ok {
		t.Errorf("webhook: added %s=%q past the size limit", defaults.DefaultedAnnotation, v)
	}
	if byWebhook.Spec.SecurityContext == nil || byWebhook.Spec.SecurityContext.SeccompProfile == nil {
		t.Errorf("webhook: pod not defaulted: %s", toJSON(byWebhook.Spec.SecurityContext))
	}
	if polErr == nil {
		t.Fatalf("policy: admitted (annotation %q): the difference is gone, update export.Differences", byPolicy.Annotations[defaults.DefaultedAnnotation])
	}
	if !strings.Contains(polErr.Error(), "metadata.annotations: Too long") {
		t.Errorf("policy: rejected for another reason than the annotations' size: %v", polErr)
	}
}

// testUnicodeCase pins unicode-case: "diſabled" (U+017F, which Go folds
// onto s) opts the pod out of the webhook, not out of the policy.
func testUnicodeCase(ctx context.Context, t *testing.T, pol, wh string) {
	byPolicy, byWebhook, polErr, whErr := bothWays(ctx, pol, wh, func(ns string) *corev1.Pod {
		p := plainPod(ns)
		p.Annotations = map[string]string{defaults.InjectKey: "di\u017fabled"}
		return p
	})
	if polErr != nil || whErr != nil {
		t.Fatalf("rejected: policy %v, webhook %v", polErr, whErr)
	}
	if v, ok := byWebhook.Annotations[defaults.DefaultedAnnotation]; ok {
		t.Errorf("webhook: defaulted a pod opted out with U+017F: %s=%q", defaults.DefaultedAnnotation, v)
	}
	if byPolicy.Annotations[defaults.DefaultedAnnotation] == "" {
		t.Errorf("policy: did not default it: the difference is gone, update export.Differences")
	}
}

// testPolicyWarnings pins warnings: a container that runs as root gets a
// warning from the webhook, none from the policy.
func testPolicyWarnings(ctx context.Context, t *testing.T, pol, wh string) {
	client, rec := warningClient(t, controlPlane.Config)
	got := map[string][]string{}
	for _, ns := range []string{pol, wh} {
		p := plainPod(ns)
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To(int64(0))}
		if _, err := client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
			t.Fatal(err)
		}
		got[ns] = rec.take()
	}
	if len(got[pol]) != 0 {
		t.Errorf("policy: warnings %q: the difference is gone, update export.Differences", got[pol])
	}
	if !slices.ContainsFunc(got[wh], func(w string) bool { return strings.Contains(w, "runs as root") }) {
		t.Errorf("webhook: warnings %q, want one saying the container runs as root", got[wh])
	}
}

// documentedDifferences names, per corpus pod, the documented differences
// (export.Differences IDs) that show in it. Every other pod must come out
// of the policy exactly as out of the webhook.
var documentedDifferences = map[string][]string{}

func testPolicyCorpus(ctx context.Context, t *testing.T, polRestricted, polPrivileged, whRestricted, whPrivileged string) {
	var same int
	for _, cp := range loadCorpus(t) {
		t.Run(cp.where, func(t *testing.T) {
			pol, wh := polRestricted, whRestricted
			if cp.insecure != "" || cp.optedOut {
				pol, wh = polPrivileged, whPrivileged
			}
			for _, ns := range []string{pol, wh} {
				if err := ensureServiceAccount(ctx, ns, cp.input.Spec.ServiceAccountName); err != nil {
					t.Fatal(err)
				}
			}
			byWebhook, err := controlPlane.DryRunCreate(ctx, forCreate(cp.input, wh, cp.where))
			if err != nil {
				t.Fatalf("the webhook's namespace rejected it: %v", err)
			}
			input := forCreate(cp.input, pol, cp.where)
			byPolicy, err := controlPlane.DryRunCreate(ctx, input)
			if err != nil {
				// Valid stays valid: admitted with the webhook's
				// defaults, it must be admitted with the policy's.
				t.Fatalf("the policy's namespace rejected it: %v", err)
			}
			byPolicy, byWebhook = withoutToken(byPolicy), withoutToken(byWebhook)
			diffs := ruleOwnedDiff(byPolicy, byWebhook, input)
			if allowed := documentedDifferences[cp.where]; len(allowed) > 0 {
				if len(diffs) == 0 {
					t.Errorf("documented differences %v no longer show: drop them from documentedDifferences", allowed)
				}
				t.Logf("differences allowed by %v: %s", allowed, strings.Join(diffs, "; "))
				diffs = nil
			}
			for _, d := range diffs {
				t.Errorf("policy's pod differs from the webhook's: %s", d)
			}
			if len(diffs) == 0 {
				same++
			}
			for _, d := range keptUserFields(byPolicy, input) {
				t.Errorf("user's value changed by the policy: %s", d)
			}
			if cp.optedOut && byPolicy.Annotations[defaults.DefaultedAnnotation] != "" {
				t.Errorf("opted-out pod was defaulted: %s", byPolicy.Annotations[defaults.DefaultedAnnotation])
			}
			// Idempotence: the policy's output, created again, comes back
			// unchanged.
			again, err := controlPlane.DryRunCreate(ctx, forCreate(byPolicy, pol, cp.where))
			if err != nil {
				t.Fatalf("the policy's own output was rejected: %v", err)
			}
			for _, d := range ruleOwnedDiff(withoutToken(again), byPolicy, byPolicy) {
				t.Errorf("a second pass changed the pod: %s", d)
			}
		})
	}
	t.Logf("%d corpus pods identical under the policy and the webhook", same)
}

// testTmpDuplicateVolumes: a pod that repeats a volume name is invalid; the
// policy's map of volume names rejects it before the API server's
// validation would, so it is rejected either way.
func testTmpDuplicateVolumes(ctx context.Context, t *testing.T, pol, wh string) {
	for _, ns := range []string{pol, wh} {
		pod := plainPod(ns)
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		for range 2 {
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
		_, err := controlPlane.DryRunCreate(ctx, pod)
		if err == nil {
			t.Errorf("%s: a pod with two volumes named data was admitted", ns)
			continue
		}
		t.Logf("%s: %.300s", ns, err)
	}
}

// testTmpVolumeName pins the documented difference in /tmp volume names:
// when tmp-<container> is taken or too long, the webhook hashes, the policy
// names it by the container's kind and index.
func testTmpVolumeName(ctx context.Context, t *testing.T, pol, wh string) {
	long := "app-" + strings.Repeat("x", 59) // tmp-<it> is 67 characters
	for _, tc := range []struct {
		name      string
		container string
		volumes   []string // the pod's own
		want      string   // the policy's /tmp volume
	}{
		{"tmp-app taken", "app", []string{"tmp-app"}, "tmp--c0"},
		{"tmp-app and tmp--c0 taken", "app", []string{"tmp-app", "tmp--c0", "tmp--c0-1"}, "tmp--c0-0"},
		{"tmp-<name> too long", long, nil, "tmp--c0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := func(ns string) *corev1.Pod {
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{GenerateName: "tmp-taken-", Namespace: ns},
					Spec: corev1.PodSpec{
						Containers: []corev1.Container{{
							Name: tc.container, Image: "registry.example/app:1.0",
							SecurityContext: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)},
						}},
					},
				}
				for i, v := range tc.volumes {
					p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: v, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
					p.Spec.Containers[0].VolumeMounts = append(p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: v, MountPath: fmt.Sprintf("/data/%d", i)})
				}
				return p
			}
			byPolicy, err := controlPlane.DryRunCreate(ctx, pod(pol))
			if err != nil {
				t.Fatal(err)
			}
			byWebhook, err := controlPlane.DryRunCreate(ctx, pod(wh))
			if err != nil {
				t.Fatal(err)
			}
			if got := tmpMount(byPolicy.Spec.Containers[0]); got != tc.want {
				t.Errorf("policy: /tmp volume %q, want %s", got, tc.want)
			}
			if !hasVolume(byPolicy, tc.want) {
				t.Errorf("policy: no volume %s in [%s]", tc.want, volumeNames(byPolicy.Spec.Volumes))
			}
			prefix := ("tmp-" + tc.container)[:min(len("tmp-"+tc.container), 63-9)] + "-"
			if got := tmpMount(byWebhook.Spec.Containers[0]); !strings.HasPrefix(got, prefix) || len(got) != len(prefix)+8 {
				t.Errorf("webhook: /tmp volume %q, want %s<hash>", got, prefix)
			}
		})
	}
}

func tmpMount(c corev1.Container) string {
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/tmp" {
			return m.Name
		}
	}
	return ""
}

// testPolicyEphemeral pins the documented difference for ephemeral
// containers: the policy leaves a debug container as it came.
func testPolicyEphemeral(ctx context.Context, t *testing.T, ns string) {
	pods := controlPlane.Client.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, plainPod(ns), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Spec.EphemeralContainers = append(created.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "registry.example/debug:1.0"},
	})
	updated, err := pods.UpdateEphemeralContainers(ctx, created.Name, created, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if sc := updated.Spec.EphemeralContainers[0].SecurityContext; sc != nil {
		t.Errorf("policy defaulted the ephemeral container: %s (update export.Differences)", toJSON(sc))
	}
	if updated.Annotations[defaults.DefaultedAnnotation] == "" {
		t.Errorf("the pod itself was not defaulted on create")
	}
}

// testPolicyManyContainers creates the largest kind of pod we expect: 250
// init containers and 250 containers, each with a read-only root filesystem,
// so every rule writes into every container.
func testPolicyManyContainers(ctx context.Context, t *testing.T, ns string, opts defaults.Options) {
	const n = 250
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "many-", Namespace: ns}}
	// No token volume from the ServiceAccount plugin: the rules below see
	// the pod as written.
	pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	for i := 0; i < n; i++ {
		sc := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: fmt.Sprintf("init-%d", i), Image: "registry.example/app:1.0", SecurityContext: sc.DeepCopy()})
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("app-%d", i), Image: "registry.example/app:1.0", SecurityContext: sc.DeepCopy()})
	}
	got, err := controlPlane.DryRunCreate(ctx, pod)
	if err != nil {
		t.Fatalf("rejected: %v", err)
	}
	want := pod.DeepCopy()
	defaults.Apply(want, opts)
	for _, d := range ruleOwnedDiff(withoutToken(got), want, pod) {
		t.Error(d)
	}
}

// testPolicyManyTakenTmpNames is testPolicyManyContainers where no
// container can have tmp-<name>: the init containers' names are 63
// characters long, and the pod has a volume tmp-<name> for each container.
// Every container takes the policy's fallback name, within the CEL cost
// limits, and the webhook admits the same pod.
func testPolicyManyTakenTmpNames(ctx context.Context, t *testing.T, pol, wh string) {
	const n = 250
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{GenerateName: "many-taken-"}}
	pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	for i := 0; i < n; i++ {
		sc := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
		init := (fmt.Sprintf("init-%d-", i) + strings.Repeat("x", 63))[:63]
		app := fmt.Sprintf("app-%d", i)
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: init, Image: "registry.example/app:1.0", SecurityContext: sc.DeepCopy()})
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: app, Image: "registry.example/app:1.0", SecurityContext: sc.DeepCopy()})
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "tmp-" + app, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	in := pod.DeepCopy()
	in.Namespace = wh
	if _, err := controlPlane.DryRunCreate(ctx, in); err != nil {
		t.Fatalf("the webhook's namespace rejected it: %v", err)
	}
	in.Namespace = pol
	start := time.Now()
	got, err := controlPlane.DryRunCreate(ctx, in)
	if err != nil {
		t.Fatalf("the policy's namespace rejected it: %v", err)
	}
	t.Logf("%d+%d containers, every tmp-<name> taken: admitted in %v", n, n, time.Since(start).Round(time.Millisecond))
	emptyDirs := map[string]bool{}
	for _, v := range got.Spec.Volumes {
		if v.EmptyDir != nil {
			emptyDirs[v.Name] = true
		}
	}
	for kind, cs := range map[string][]corev1.Container{"i": got.Spec.InitContainers, "c": got.Spec.Containers} {
		for i, c := range cs {
			want := fmt.Sprintf("tmp--%s%d", kind, i)
			if got := tmpMount(c); got != want || !emptyDirs[want] {
				t.Errorf("%s: /tmp volume %q (an emptyDir: %v), want %s", c.Name, got, emptyDirs[got], want)
			}
		}
	}
	if len(got.Spec.Volumes) != 3*n {
		t.Errorf("%d volumes, want %d: the pod's and one per container", len(got.Spec.Volumes), 3*n)
	}
}

// testPolicyOptOuts checks the pod annotations that opt out, against the
// webhook.
func testPolicyOptOuts(ctx context.Context, t *testing.T, pol, wh string) {
	base := plainPod("")
	base.Spec.InitContainers = []corev1.Container{{Name: "setup", Image: "registry.example/app:1.0"}}
	base.Spec.Containers = append(base.Spec.Containers, corev1.Container{Name: "sidecar", Image: "registry.example/app:1.0"})
	for name, ann := range map[string]map[string]string{
		"opted out":                    {defaults.InjectKey: " Disabled "},
		"skip-rules":                   {defaults.SkipRulesAnnotation: "drop-all-capabilities, seccomp-runtime-default,unknown"},
		"skip-containers":              {defaults.SkipContainersAnnotation: "sidecar,setup"},
		"skip-containers and rules":    {defaults.SkipContainersAnnotation: "app", defaults.SkipRulesAnnotation: "run-as-non-root"},
		"defaulted annotation kept":    {defaults.DefaultedAnnotation: "zz-other, tmp-emptydir"},
		"pod seccomp annotation":       {corev1.SeccompPodAnnotationKey: "localhost/profiles/a.json"},
		"container seccomp annotation": {corev1.SeccompContainerAnnotationKeyPrefix + "sidecar": "unconfined"},
	} {
		t.Run(name, func(t *testing.T) {
			in := base.DeepCopy()
			in.Annotations = ann
			a, b := in.DeepCopy(), in.DeepCopy()
			a.Namespace, b.Namespace = pol, wh
			byPolicy, err := controlPlane.DryRunCreate(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			byWebhook, err := controlPlane.DryRunCreate(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range ruleOwnedDiff(withoutToken(byPolicy), withoutToken(byWebhook), in) {
				t.Errorf("policy's pod differs from the webhook's: %s", d)
			}
		})
	}
}

// withoutToken drops the ServiceAccount token volume and its mounts, which
// the API server adds under a random name: two pods compare equal without.
func withoutToken(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	token := map[string]bool{}
	var vs []corev1.Volume
	for _, v := range p.Spec.Volumes {
		if isServiceAccountToken(v) {
			token[v.Name] = true
			continue
		}
		vs = append(vs, v)
	}
	p.Spec.Volumes = vs
	strip := func(cs []corev1.Container) {
		for i := range cs {
			var ms []corev1.VolumeMount
			for _, m := range cs[i].VolumeMounts {
				if !token[m.Name] {
					ms = append(ms, m)
				}
			}
			cs[i].VolumeMounts = ms
		}
	}
	strip(p.Spec.InitContainers)
	strip(p.Spec.Containers)
	return p
}

// testPolicyReinvocation registers a webhook that injects a sidecar after
// the policy has run (webhooks run after policies): reinvocationPolicy
// IfNeeded must run the policy again, so the injected container gets its
// defaults too, and the pod's own containers are not defaulted twice.
func testPolicyReinvocation(ctx context.Context, t *testing.T, ns string) {
	inj, err := startPatcher(t, []byte(`[{"op":"add","path":"/spec/containers/-","value":{"name":"injected","image":"registry.example/proxy:1.0"}}]`))
	if err != nil {
		t.Fatal(err)
	}
	cfg := inj.config()
	cfg.Name = "zz-e2e-injector"
	cfg.Webhooks[0].Name = "injector.e2e.secure-defaults.dev"
	cfg.Webhooks[0].NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	if err := register(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = controlPlane.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), cfg.Name, metav1.DeleteOptions{})
	})
	var got *corev1.Pod
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := controlPlane.WaitForMutation(wctx, plainPod(ns), func(p *corev1.Pod) bool {
		got = p
		return len(p.Spec.Containers) == 2
	}); err != nil {
		t.Fatalf("the injector never ran: %v", err)
	}
	want, _ := predict(got)
	for _, d := range ruleOwnedDiff(withoutToken(got), withoutToken(want), withoutToken(got)) {
		t.Errorf("a second pass of the rules would change the pod: %s", d)
	}
	if sc := got.Spec.Containers[1].SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || sc.Capabilities == nil {
		t.Errorf("injected container not defaulted: %s", toJSON(sc))
	}
	if drop := got.Spec.Containers[0].SecurityContext.Capabilities.Drop; len(drop) != 1 {
		t.Errorf("the pod's own container: capabilities.drop %v, want [ALL] once", drop)
	}
}

// testPolicySystemNamespaces labels kube-system and kube-node-lease as the
// policy's namespaces (as someone opting them in would) and checks that a
// pod there is left as it came, as the webhook's namespaceSelector leaves
// it. A namespace labelled after them, whose pods the policy defaults,
// shows the API server has seen the labels before the check.
func testPolicySystemNamespaces(ctx context.Context, t *testing.T) {
	nss := controlPlane.Client.CoreV1().Namespaces()
	system := []string{metav1.NamespaceSystem, corev1.NamespaceNodeLease}
	for _, name := range system {
		label := func(value any) error {
			patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%s}}}`, policyLabel, toJSON(value))
			_, err := nss.Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
			return err
		}
		if err := label(policyName); err != nil {
			t.Fatalf("labelling %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := label(nil); err != nil {
				t.Errorf("unlabelling %s: %v", name, err)
			}
		})
		// No controller makes the default ServiceAccount here.
		if _, err := controlPlane.Client.CoreV1().ServiceAccounts(name).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "default"},
		}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	control := policyNamespace(ctx, t, "map-system-control-", policyName, psaPrivileged)
	if err := waitEffective(ctx, control); err != nil {
		t.Fatalf("the policy never defaulted a pod in %s: %v", control, err)
	}
	for _, name := range system {
		t.Run(name, func(t *testing.T) {
			in := plainPod(name)
			got, err := controlPlane.DryRunCreate(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if v, ok := got.Annotations[defaults.DefaultedAnnotation]; ok {
				t.Errorf("pod in %s defaulted by the policy: %s=%q", name, defaults.DefaultedAnnotation, v)
			}
			for _, d := range ruleOwnedDiff(withoutToken(got), in, in) {
				t.Errorf("pod in %s changed: %s", name, d)
			}
		})
	}
}
