//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/e2e/framework/images"
)

// needNode skips t when the node is turned off (nodeEnv=off), saying so.
func needNode(t *testing.T) {
	t.Helper()
	if controlPlane.Node == nil {
		t.Skipf("no kubelet and containerd: %s=off; pods do not run", nodeEnv)
	}
}

// podNamespace creates a namespace for pods that run: like namespace, plus
// the kube-root-ca.crt ConfigMap the controller-manager would publish (the
// service-account token volume projects it).
func podNamespace(ctx context.Context, t *testing.T, prefix string, optIn bool, level string) string {
	t.Helper()
	ns := namespace(ctx, t, prefix, optIn, level)
	_, err := controlPlane.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"},
		Data:       map[string]string{"ca.crt": string(controlPlane.CAPEM)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// probePod is a pod of one container running image, bound to the node.
func probePod(ns, name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:                      framework.NodeName,
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers:                    []corev1.Container{{Name: "app", Image: image}},
		},
	}
}

// outcome is how a pod ended up: Running (every container started),
// Succeeded, or stuck/failed with the kubelet's reason.
type outcome struct {
	// State is "Running", "Succeeded", "Failed", or "Stuck" (the wait
	// ended without one of those).
	State string
	// Reason is the kubelet's: a container's waiting or terminated reason
	// ("CreateContainerConfigError", "Init:Error"), else the pod's.
	Reason, Message string
	// Elapsed is the time from the create call to the outcome.
	Elapsed time.Duration
	Pod     *corev1.Pod
}

func (o outcome) ok() bool { return o.State == "Running" || o.State == "Succeeded" }

func (o outcome) String() string {
	if o.Reason == "" {
		return o.State
	}
	return fmt.Sprintf("%s: %s: %s", o.State, o.Reason, o.Message)
}

// fatalReasons are container waiting reasons after which waiting longer
// changes nothing in these tests.
var fatalReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"RunContainerError":          true,
	"ErrImageNeverPull":          true,
}

// judge returns the outcome of pod as it stands, and whether it is final.
func judge(p *corev1.Pod) (outcome, bool) {
	o := outcome{Pod: p}
	switch p.Status.Phase {
	case corev1.PodSucceeded:
		o.State = "Succeeded"
		return o, true
	case corev1.PodFailed:
		o.State, o.Reason, o.Message = "Failed", p.Status.Reason, p.Status.Message
		if o.Reason == "" {
			o.Reason, o.Message = containerProblem(p)
		}
		return o, true
	}
	if r, m := containerProblem(p); r != "" {
		o.State, o.Reason, o.Message = "Failed", r, m
		return o, true
	}
	if p.Status.Phase == corev1.PodRunning {
		all := len(p.Status.ContainerStatuses) == len(p.Spec.Containers)
		for _, s := range p.Status.ContainerStatuses {
			if s.State.Running == nil {
				all = false
			}
		}
		if all {
			o.State = "Running"
			return o, true
		}
	}
	o.State = "Stuck"
	o.Reason, o.Message = string(p.Status.Phase), pendingWhy(p)
	return o, false
}

// containerProblem returns the first fatal reason of a container.
func containerProblem(p *corev1.Pod) (string, string) {
	for _, s := range p.Status.InitContainerStatuses {
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return "Init:" + t.Reason, fmt.Sprintf("init container %s exited %d", s.Name, t.ExitCode)
		}
		if t := s.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 {
			return "Init:" + t.Reason, fmt.Sprintf("init container %s exited %d", s.Name, t.ExitCode)
		}
		if w := s.State.Waiting; w != nil && fatalReasons[w.Reason] {
			return w.Reason, fmt.Sprintf("init container %s: %s", s.Name, w.Message)
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if w := s.State.Waiting; w != nil && fatalReasons[w.Reason] {
			return w.Reason, fmt.Sprintf("container %s: %s", s.Name, w.Message)
		}
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return t.Reason, fmt.Sprintf("container %s exited %d", s.Name, t.ExitCode)
		}
	}
	return "", ""
}

// pendingWhy summarises the conditions of a pod that did not start.
func pendingWhy(p *corev1.Pod) string {
	var parts []string
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Reason != "" {
			parts = append(parts, fmt.Sprintf("%s=%s %s", c.Type, c.Reason, c.Message))
		}
	}
	for _, s := range append(append([]corev1.ContainerStatus(nil), p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := s.State.Waiting; w != nil {
			parts = append(parts, fmt.Sprintf("%s waiting: %s %s", s.Name, w.Reason, w.Message))
		}
	}
	return strings.Join(parts, "; ")
}

// runPods creates pods and waits, up to timeout, for each to reach a final
// outcome; a create the API server rejects is the outcome "Rejected".
// Outcomes are in the order of pods.
func runPods(ctx context.Context, pods []*corev1.Pod, timeout time.Duration) []outcome {
	out := make([]outcome, len(pods))
	names := make([]string, len(pods))
	starts := make([]time.Time, len(pods))
	done := make([]bool, len(pods))
	for i, p := range pods {
		starts[i] = time.Now()
		created, err := controlPlane.Client.CoreV1().Pods(p.Namespace).Create(ctx, p.DeepCopy(), metav1.CreateOptions{})
		if err != nil {
			out[i] = outcome{State: "Rejected", Reason: string(apierrors.ReasonForError(err)), Message: err.Error()}
			done[i] = true
			continue
		}
		names[i] = created.Name
		out[i] = outcome{State: "Stuck", Pod: created}
	}
	deadline := time.Now().Add(timeout)
	for {
		pending := 0
		for i, p := range pods {
			if done[i] {
				continue
			}
			got, err := controlPlane.Client.CoreV1().Pods(p.Namespace).Get(ctx, names[i], metav1.GetOptions{})
			if err != nil {
				out[i] = outcome{State: "Stuck", Reason: "GetFailed", Message: err.Error()}
				pending++
				continue
			}
			o, final := judge(got)
			o.Elapsed = time.Since(starts[i])
			out[i] = o
			if final {
				done[i] = true
			} else {
				pending++
			}
		}
		if pending == 0 || time.Now().After(deadline) || ctx.Err() != nil {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runPod is runPods for one pod.
func runPod(ctx context.Context, pod *corev1.Pod, timeout time.Duration) outcome {
	return runPods(ctx, []*corev1.Pod{pod}, timeout)[0]
}

// probeReport reads the probe's report from the log of container in pod.
func probeReport(ctx context.Context, pod *corev1.Pod, container string) (*images.Report, error) {
	var last error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		b, err := controlPlane.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
		if err == nil {
			r, perr := images.ParseReport(b)
			if perr == nil {
				return r, nil
			}
			err = perr
		}
		last = err
		time.Sleep(250 * time.Millisecond)
	}
	return nil, fmt.Errorf("log of %s/%s container %s: %w", pod.Namespace, pod.Name, container, last)
}

// deletePods deletes the pods of outs at once, without grace.
func deletePods(ctx context.Context, outs []outcome) {
	for _, o := range outs {
		if o.Pod != nil {
			_ = controlPlane.Client.CoreV1().Pods(o.Pod.Namespace).Delete(ctx, o.Pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
		}
	}
}

// median of ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
