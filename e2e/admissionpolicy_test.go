//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
)

// TestCABundleOnlyPolicy applies the ValidatingAdmissionPolicy of
// deploy/base/02-admissionpolicy.yaml to the real API server and acts as the
// webhook's ServiceAccount (RBAC lets it update its configuration): every
// change but the caBundle is refused, the caBundle goes through, and other
// users are not affected.
func TestCABundleOnlyPolicy(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp := controlPlane
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	name := "cabundle-only-" + suffix
	ns := "vap-" + suffix
	user := "system:serviceaccount:" + ns + ":secure-defaults"
	admin := cp.Client.AdmissionregistrationV1()

	// A webhook configuration that matches no namespace, so it affects no
	// other test, and the RBAC of the built-in mode on it.
	cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "secure-defaults"}},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    "pods.secure-defaults.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: ptr.To("https://127.0.0.1:1/mutate"), CABundle: []byte("first")},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create}, Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"vap-test-matches-nothing": suffix}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
		}},
	}
	if _, err := admin.MutatingWebhookConfigurations().Create(ctx, cfg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.MutatingWebhookConfigurations().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	rbac := cp.Client.RbacV1()
	if _, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"admissionregistration.k8s.io"}, Resources: []string{"mutatingwebhookconfigurations"},
			ResourceNames: []string{name}, Verbs: []string{"get", "update"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{}) })
	if _, err := rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rbac.ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{}) })

	applyCABundleOnlyPolicy(ctx, t, name, user, name)
	configs := asUser(t, user).AdmissionregistrationV1().MutatingWebhookConfigurations()

	// update changes the stored configuration with change, as the webhook's
	// ServiceAccount (dry run unless real).
	update := func(change func(*admissionregistrationv1.MutatingWebhookConfiguration), real bool) error {
		cur, err := configs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get as the ServiceAccount: %v", err)
		}
		change(cur)
		opts := metav1.UpdateOptions{}
		if !real {
			opts.DryRun = []string{metav1.DryRunAll}
		}
		_, err = configs.Update(ctx, cur, opts)
		return err
	}
	// hook changes the configuration's first webhook.
	hook := func(change func(*admissionregistrationv1.MutatingWebhook)) func(*admissionregistrationv1.MutatingWebhookConfiguration) {
		return func(c *admissionregistrationv1.MutatingWebhookConfiguration) { change(&c.Webhooks[0]) }
	}
	widen := hook(func(w *admissionregistrationv1.MutatingWebhook) {
		w.Rules[0].Operations = append(w.Rules[0].Operations, admissionregistrationv1.Update)
	})

	refused := []struct {
		what   string
		change func(*admissionregistrationv1.MutatingWebhookConfiguration)
	}{
		{"a rule widened", widen},
		{"the URL", hook(func(w *admissionregistrationv1.MutatingWebhook) {
			w.ClientConfig.URL = ptr.To("https://attacker.example/mutate")
		})},
		{"the URL swapped for a service", hook(func(w *admissionregistrationv1.MutatingWebhook) {
			w.ClientConfig.URL = nil
			w.ClientConfig.Service = &admissionregistrationv1.ServiceReference{Namespace: ns, Name: "attacker", Path: ptr.To("/mutate")}
		})},
		{"the namespace selector", hook(func(w *admissionregistrationv1.MutatingWebhook) { w.NamespaceSelector = &metav1.LabelSelector{} })},
		{"the object selector", hook(func(w *admissionregistrationv1.MutatingWebhook) {
			w.ObjectSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"other": "label"}}
		})},
		{"the failure policy", hook(func(w *admissionregistrationv1.MutatingWebhook) {
			w.FailurePolicy = ptr.To(admissionregistrationv1.Fail)
		})},
		{"the timeout", hook(func(w *admissionregistrationv1.MutatingWebhook) { w.TimeoutSeconds = ptr.To[int32](30) })},
		{"the name", hook(func(w *admissionregistrationv1.MutatingWebhook) { w.Name = "other.secure-defaults.dev" })},
		{"the reinvocation policy", hook(func(w *admissionregistrationv1.MutatingWebhook) {
			w.ReinvocationPolicy = ptr.To(admissionregistrationv1.IfNeededReinvocationPolicy)
		})},
		{"a match condition", hook(func(w *admissionregistrationv1.MutatingWebhook) {
			w.MatchConditions = append(w.MatchConditions, admissionregistrationv1.MatchCondition{Name: "never", Expression: "false"})
		})},
		{"a second webhook", func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
			second := *c.Webhooks[0].DeepCopy()
			second.Name = "second.secure-defaults.dev"
			c.Webhooks = append(c.Webhooks, second)
		}},
		{"every webhook removed", func(c *admissionregistrationv1.MutatingWebhookConfiguration) { c.Webhooks = nil }},
		// Metadata: labels and annotations steer other controllers, a
		// finalizer blocks deletion, and an owner reference to an object
		// that does not exist lets the garbage collector delete the
		// configuration, which RBAC does not allow the ServiceAccount.
		{"a label added", func(c *admissionregistrationv1.MutatingWebhookConfiguration) { c.Labels["other"] = "label" }},
		{"every label removed", func(c *admissionregistrationv1.MutatingWebhookConfiguration) { c.Labels = nil }},
		{"an annotation", func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
			c.Annotations = map[string]string{"example.com/note": "x"}
		}},
		{"an owner reference", func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
			c.OwnerReferences = append(c.OwnerReferences, metav1.OwnerReference{
				APIVersion: "v1", Kind: "Namespace", Name: "missing-" + suffix, UID: "00000000-0000-0000-0000-000000000001",
			})
		}},
		{"a finalizer", func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
			c.Finalizers = append(c.Finalizers, "example.com/never")
		}},
	}
	for _, r := range refused {
		if err := update(r.change, true); err == nil || !strings.Contains(err.Error(), "only the caBundle") {
			t.Errorf("%s, as the webhook's ServiceAccount: %v, want refused by the policy", r.what, err)
		}
	}
	if err := update(hook(func(w *admissionregistrationv1.MutatingWebhook) { w.ClientConfig.CABundle = []byte("second") }), true); err != nil {
		t.Fatalf("changing the caBundle as the webhook's ServiceAccount: %v", err)
	}
	got, err := admin.MutatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Webhooks[0].ClientConfig.CABundle) != "second" || len(got.Webhooks[0].Rules[0].Operations) != 1 {
		t.Errorf("stored webhook %+v: want the new caBundle and the rules unchanged", got.Webhooks[0])
	}
	// Anyone else (here the admin) is not held by the policy.
	got.Webhooks[0].Rules[0].Operations = append(got.Webhooks[0].Rules[0].Operations, admissionregistrationv1.Update)
	if _, err := admin.MutatingWebhookConfigurations().Update(ctx, got, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the admin changing a rule: %v, want allowed", err)
	}
}

// asUser is a client of the control plane that impersonates user, a
// ServiceAccount's user name, with the groups the API server gives it.
func asUser(t *testing.T, user string) kubernetes.Interface {
	t.Helper()
	ns := strings.Split(user, ":")[2]
	cfg := rest.CopyConfig(controlPlane.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return client
}

// applyCABundleOnlyPolicy creates the policy and binding of
// deploy/base/02-admissionpolicy.yaml under name, matching user (a
// ServiceAccount's user name) instead of the shipped ServiceAccount, removes
// them when the test ends, and waits until the API server enforces them: a
// dry-run update by user that widens a rule of the MutatingWebhookConfiguration
// configName is refused with the policy's message. user needs RBAC get and
// update on configName.
func applyCABundleOnlyPolicy(ctx context.Context, t *testing.T, name, user, configName string) {
	t.Helper()
	cp := controlPlane
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "base", "02-admissionpolicy.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var policy admissionregistrationv1.ValidatingAdmissionPolicy
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.Kind {
		case "ValidatingAdmissionPolicy":
			err = yaml.UnmarshalStrict([]byte(doc), &policy)
		case "ValidatingAdmissionPolicyBinding":
			err = yaml.UnmarshalStrict([]byte(doc), &binding)
		}
		if err != nil {
			t.Fatalf("%s: %v", meta.Kind, err)
		}
	}
	if len(policy.Spec.MatchConditions) != 1 || !strings.Contains(policy.Spec.MatchConditions[0].Expression, "system:serviceaccount:secure-defaults:secure-defaults") {
		t.Fatalf("the policy's match condition %+v does not name the shipped ServiceAccount", policy.Spec.MatchConditions)
	}
	policy.Spec.MatchConditions[0].Expression = strings.ReplaceAll(policy.Spec.MatchConditions[0].Expression,
		"system:serviceaccount:secure-defaults:secure-defaults", user)
	policy.ObjectMeta = metav1.ObjectMeta{Name: name}
	binding.ObjectMeta = metav1.ObjectMeta{Name: name}
	binding.Spec.PolicyName = name

	admin := cp.Client.AdmissionregistrationV1()
	if _, err := admin.ValidatingAdmissionPolicies().Create(ctx, &policy, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the shipped policy: %v", err)
	}
	t.Cleanup(func() {
		_ = admin.ValidatingAdmissionPolicies().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	if _, err := admin.ValidatingAdmissionPolicyBindings().Create(ctx, &binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the shipped binding: %v", err)
	}
	t.Cleanup(func() {
		_ = admin.ValidatingAdmissionPolicyBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
	})

	// The API server learns of policies through an informer: poll (dry
	// run) until a change to a rule is refused.
	configs := asUser(t, user).AdmissionregistrationV1().MutatingWebhookConfigurations()
	deadline := time.Now().Add(time.Minute)
	for {
		cur, err := configs.Get(ctx, configName, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get %s as %s: %v", configName, user, err)
		}
		cur.Webhooks[0].Rules[0].Operations = append(cur.Webhooks[0].Rules[0].Operations, admissionregistrationv1.Delete)
		_, err = configs.Update(ctx, cur, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsForbidden(err) || apierrors.IsInvalid(err) {
			if !strings.Contains(err.Error(), "only the caBundle") {
				t.Fatalf("refused with %v, want the policy's message", err)
			}
			return
		}
		if err != nil && !apierrors.IsConflict(err) {
			t.Fatalf("dry-run update as %s: %v", user, err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the policy never refused a change to a rule")
		}
		time.Sleep(200 * time.Millisecond)
	}
}
