package framework

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secure-defaults/secure-defaults/e2e/framework/images"
)

// PodOutcome is how a pod ended up: Running (every container started),
// Succeeded, or stuck/failed with the kubelet's reason.
type PodOutcome struct {
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

func (o PodOutcome) OK() bool { return o.State == "Running" || o.State == "Succeeded" }

func (o PodOutcome) String() string {
	if o.Reason == "" {
		return o.State
	}
	return fmt.Sprintf("%s: %s: %s", o.State, o.Reason, o.Message)
}

// FatalReasons are container waiting reasons after which waiting longer
// changes nothing in these tests.
var FatalReasons = map[string]bool{
	"CreateContainerConfigError": true,
	"CreateContainerError":       true,
	"ErrImagePull":               true,
	"ImagePullBackOff":           true,
	"InvalidImageName":           true,
	"CrashLoopBackOff":           true,
	"RunContainerError":          true,
	"ErrImageNeverPull":          true,
}

// Judge returns the PodOutcome of pod as it stands, and whether it is final.
func Judge(p *corev1.Pod) (PodOutcome, bool) {
	o := PodOutcome{Pod: p}
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
	o.Reason, o.Message = string(p.Status.Phase), PendingWhy(p)
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
		if w := s.State.Waiting; w != nil && FatalReasons[w.Reason] {
			return w.Reason, fmt.Sprintf("init container %s: %s", s.Name, w.Message)
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if w := s.State.Waiting; w != nil && FatalReasons[w.Reason] {
			return w.Reason, fmt.Sprintf("container %s: %s", s.Name, w.Message)
		}
		if t := s.State.Terminated; t != nil && t.ExitCode != 0 {
			return t.Reason, fmt.Sprintf("container %s exited %d", s.Name, t.ExitCode)
		}
	}
	return "", ""
}

// PendingWhy summarises the conditions of a pod that did not start.
func PendingWhy(p *corev1.Pod) string {
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

// Settle is how long RunPods waits for pods that have not reached an
// outcome when none of them changed while others did reach one: a pod whose
// volume cannot be mounted stays Pending without a status change, forever.
// A batch where no pod has reached an outcome yet waits for the timeout.
var Settle = 30 * time.Second

// RunPods creates pods and waits, up to timeout, for each to reach a final
// outcome, or until the pods left have not changed for Settle after some
// pods did reach one; a create the
// API server rejects is the PodOutcome "Rejected". Outcomes are in the order
// of pods.
func (cp *ControlPlane) RunPods(ctx context.Context, pods []*corev1.Pod, timeout time.Duration) []PodOutcome {
	out := make([]PodOutcome, len(pods))
	names := make([]string, len(pods))
	starts := make([]time.Time, len(pods))
	done := make([]bool, len(pods))
	for i, p := range pods {
		starts[i] = time.Now()
		created, err := cp.Client.CoreV1().Pods(p.Namespace).Create(ctx, p.DeepCopy(), metav1.CreateOptions{})
		if err != nil {
			out[i] = PodOutcome{State: "Rejected", Reason: string(apierrors.ReasonForError(err)), Message: err.Error()}
			done[i] = true
			continue
		}
		names[i] = created.Name
		out[i] = PodOutcome{State: "Stuck", Pod: created}
	}
	deadline := time.Now().Add(timeout)
	lastChange := time.Now()
	versions := make([]string, len(pods))
	for {
		// One List per namespace and round, however many pods.
		current := map[string]map[string]*corev1.Pod{}
		for i, p := range pods {
			if done[i] || current[p.Namespace] != nil {
				continue
			}
			list, err := cp.Client.CoreV1().Pods(p.Namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				continue
			}
			byName := map[string]*corev1.Pod{}
			for j := range list.Items {
				byName[list.Items[j].Name] = &list.Items[j]
			}
			current[p.Namespace] = byName
		}
		pending := 0
		for i, p := range pods {
			if done[i] {
				continue
			}
			got := current[p.Namespace][names[i]]
			if got == nil {
				pending++
				continue
			}
			if got.ResourceVersion != versions[i] {
				versions[i], lastChange = got.ResourceVersion, time.Now()
			}
			o, final := Judge(got)
			o.Elapsed = time.Since(starts[i])
			out[i] = o
			if final {
				done[i] = true
			} else {
				pending++
			}
		}
		settled := pending < len(pods) && time.Since(lastChange) > Settle
		if pending == 0 || settled || time.Now().After(deadline) || ctx.Err() != nil {
			return out
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RunPod is RunPods for one pod.
func (cp *ControlPlane) RunPod(ctx context.Context, pod *corev1.Pod, timeout time.Duration) PodOutcome {
	return cp.RunPods(ctx, []*corev1.Pod{pod}, timeout)[0]
}

// ProbeReport reads the probe's report from the log of container in pod.
func (cp *ControlPlane) ProbeReport(ctx context.Context, pod *corev1.Pod, container string) (*images.Report, error) {
	var last error
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		b, err := cp.Client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{Container: container}).DoRaw(ctx)
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

// DeletePods deletes the pods of outs at once, without grace.
func (cp *ControlPlane) DeletePods(ctx context.Context, outs []PodOutcome) {
	for _, o := range outs {
		if o.Pod != nil {
			_ = cp.Client.CoreV1().Pods(o.Pod.Namespace).Delete(ctx, o.Pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64(0))})
		}
	}
}
