package audit

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// kind is one kind of object that owns pods, and where it keeps them.
type kind struct {
	Kind string
	GVR  schema.GroupVersionResource
	// template is the path of the pod template in the object; nil for a
	// Pod, which is its own pod.
	template []string
	// topLevelOnly skips objects whose controller is of a kind audited
	// here: their owner is audited (a Deployment's ReplicaSets, a CronJob's
	// Jobs, the Pods of any of these). Objects of another controller (an
	// operator's, a rollout tool's) are audited themselves.
	topLevelOnly bool
}

// kinds lists what an audit reads, in the order it reads them.
var kinds = []kind{
	{Kind: "Deployment", GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, template: []string{"spec", "template"}},
	{Kind: "StatefulSet", GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"}, template: []string{"spec", "template"}},
	{Kind: "DaemonSet", GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "daemonsets"}, template: []string{"spec", "template"}},
	{Kind: "CronJob", GVR: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "cronjobs"}, template: []string{"spec", "jobTemplate", "spec", "template"}},
	{Kind: "Job", GVR: schema.GroupVersionResource{Group: "batch", Version: "v1", Resource: "jobs"}, template: []string{"spec", "template"}, topLevelOnly: true},
	{Kind: "ReplicaSet", GVR: schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}, template: []string{"spec", "template"}, topLevelOnly: true},
	{Kind: "ReplicationController", GVR: schema.GroupVersionResource{Version: "v1", Resource: "replicationcontrollers"}, template: []string{"spec", "template"}, topLevelOnly: true},
	{Kind: "Pod", GVR: schema.GroupVersionResource{Version: "v1", Resource: "pods"}, topLevelOnly: true},
}

// namespacesGVR is where namespaces (and their labels) are read.
var namespacesGVR = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}

// coveredByOwner reports whether obj's controller is of a kind the audit
// reads, so that the controller's own entry covers obj; or a Node, whose
// mirror pods show static pods the kubelet runs from files, which no
// admission change reaches.
func coveredByOwner(obj *unstructured.Unstructured) bool {
	ref := metav1.GetControllerOfNoCopy(obj)
	if ref == nil {
		return false
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return false
	}
	if gv.Group == "" && ref.Kind == "Node" {
		return true
	}
	for _, k := range kinds {
		if k.GVR.Group == gv.Group && k.Kind == ref.Kind {
			return true
		}
	}
	return false
}

// podOf returns the pod that obj of kind k makes: the Pod itself, or its pod
// template with the object's namespace and name. A StatefulSet's pods also
// get the volumes its controller adds for the volume claim templates, as the
// webhook sees them.
func (k kind) podOf(obj *unstructured.Unstructured) (*corev1.Pod, error) {
	pod := &corev1.Pod{}
	if k.template == nil {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, pod); err != nil {
			return nil, err
		}
		return pod, nil
	}
	raw, found, err := unstructured.NestedFieldNoCopy(obj.Object, k.template...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(k.template, "."), err)
	}
	m, ok := raw.(map[string]any)
	if !found || !ok {
		return nil, fmt.Errorf("no pod template at %s", strings.Join(k.template, "."))
	}
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &tmpl); err != nil {
		return nil, fmt.Errorf("%s: %w", strings.Join(k.template, "."), err)
	}
	pod.ObjectMeta = tmpl.ObjectMeta
	pod.Spec = tmpl.Spec
	pod.Namespace = obj.GetNamespace()
	pod.Name = obj.GetName()
	if k.Kind == "StatefulSet" {
		if err := addClaimVolumes(obj, pod); err != nil {
			return nil, err
		}
	}
	return pod, nil
}

// addClaimVolumes adds, as the StatefulSet controller does before the pod is
// created, one volume per volume claim template that the template does not
// already define.
func addClaimVolumes(obj *unstructured.Unstructured, pod *corev1.Pod) error {
	claims, _, err := unstructured.NestedSlice(obj.Object, "spec", "volumeClaimTemplates")
	if err != nil {
		return fmt.Errorf("spec.volumeClaimTemplates: %w", err)
	}
	have := map[string]bool{}
	for _, v := range pod.Spec.Volumes {
		have[v.Name] = true
	}
	for _, c := range claims {
		m, ok := c.(map[string]any)
		if !ok {
			return fmt.Errorf("spec.volumeClaimTemplates: an entry is not an object")
		}
		name, _, _ := unstructured.NestedString(m, "metadata", "name")
		if name == "" || have[name] {
			continue
		}
		have[name] = true
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name + "-" + obj.GetName() + "-0"},
		}})
	}
	return nil
}
