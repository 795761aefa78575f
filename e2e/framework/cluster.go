package framework

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CreateNamespace creates a namespace named generateName plus a random
// suffix, with the given labels, its "default" ServiceAccount and its
// kube-root-ca.crt ConfigMap (there is no controller-manager to create them;
// the ServiceAccount admission plugin rejects pods without the account, and
// the service-account token volume projects the ConfigMap). Namespaces cannot be deleted for good here (no
// namespace controller), so every test takes a fresh one.
func (cp *ControlPlane) CreateNamespace(ctx context.Context, generateName string, labels map[string]string) (*corev1.Namespace, error) {
	ns, err := cp.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: generateName, Labels: labels},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("framework: create namespace %s*: %w", generateName, err)
	}
	_, err = cp.Client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("framework: create default ServiceAccount in %s: %w", ns.Name, err)
	}
	_, err = cp.Client.CoreV1().ConfigMaps(ns.Name).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"},
		Data:       map[string]string{"ca.crt": string(cp.CAPEM)},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("framework: create kube-root-ca.crt in %s: %w", ns.Name, err)
	}
	return ns, nil
}

// DryRunCreate creates pod in its namespace with dryRun=All: the API server
// runs every admission step (webhooks, Pod Security, validation) and returns
// the pod it would have stored, or the rejection, without storing anything.
func (cp *ControlPlane) DryRunCreate(ctx context.Context, pod *corev1.Pod) (*corev1.Pod, error) {
	return cp.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod.DeepCopy(), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
}

// WaitForDryRun repeats DryRunCreate of pod every 200ms until done returns
// true for its outcome, or ctx ends. The API server learns about webhook
// configurations (created, changed or deleted) through an informer, a moment
// after the write: wait with this before asserting on admission behaviour.
// On timeout the error describes the last outcome.
func (cp *ControlPlane) WaitForDryRun(ctx context.Context, pod *corev1.Pod, done func(*corev1.Pod, error) bool) error {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		got, err := cp.DryRunCreate(ctx, pod)
		if done(got, err) {
			return nil
		}
		select {
		case <-ctx.Done():
			last := "admitted"
			if err != nil {
				last = "rejected: " + err.Error()
			}
			return fmt.Errorf("framework: waiting for dry-run create of pod %s/%s%s: %w (last attempt %s)",
				pod.Namespace, pod.Name, pod.GenerateName, context.Cause(ctx), last)
		case <-tick.C:
		}
	}
}

// WaitForMutation waits until a dry-run create of pod is admitted and
// mutated reports the returned pod as changed by the webhook — the sign that
// a MutatingWebhookConfiguration is effective. Give ctx a deadline.
func (cp *ControlPlane) WaitForMutation(ctx context.Context, pod *corev1.Pod, mutated func(*corev1.Pod) bool) error {
	if mutated == nil {
		return errors.New("framework: WaitForMutation needs a mutated function")
	}
	return cp.WaitForDryRun(ctx, pod, func(got *corev1.Pod, err error) bool {
		return err == nil && mutated(got)
	})
}
