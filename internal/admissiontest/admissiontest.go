package admissiontest

import (
	"encoding/json"
	"fmt"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// PodsResource is the resource of a Pod review.
var PodsResource = metav1.GroupVersionResource{Version: "v1", Resource: "pods"}

// Pod returns a plain pod with one container and no security settings, as a
// user would write it, changed by each tweak in turn.
func Pod(tweaks ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:1.0"}},
		},
	}
	for _, t := range tweaks {
		t(p)
	}
	return p
}

// Apply runs the shipped rules (defaults.Options{}) over p, for tables that
// name what the webhook does to a pod without a configuration file.
func Apply(p *corev1.Pod) defaults.Result { return defaults.Apply(p, defaults.Options{}) }

// Hardened returns p after the rules ran over it: a pod that already has every
// default, as a second webhook pass would see it.
func Hardened(p *corev1.Pod) *corev1.Pod {
	p = p.DeepCopy()
	defaults.Apply(p, defaults.Options{})
	return p
}

// WithEphemeral is a tweak that adds an ephemeral container named name that
// targets the container "app", as `kubectl debug` does.
func WithEphemeral(name string) func(*corev1.Pod) {
	return func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "registry.example/debug:1"},
			TargetContainerName:      "app",
		})
	}
}

// OptedOut is a tweak that adds the opt-out annotation.
func OptedOut(p *corev1.Pod) {
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[defaults.InjectKey] = defaults.InjectDisabled
}

// RawPod encodes p as the API server would send it: with the fields the typed
// model drops or normalises ("resources": {} on every container, an unknown
// top-level field), so a test sees whether those survive the patch.
func RawPod(p *corev1.Pod) []byte {
	b, err := json.Marshal(p)
	if err != nil {
		panic(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		panic(err)
	}
	m["x-unknown-field"] = map[string]any{"kept": true}
	if spec, ok := m["spec"].(map[string]any); ok {
		if cs, ok := spec["containers"].([]any); ok {
			for _, c := range cs {
				if c, ok := c.(map[string]any); ok {
					if _, set := c["resources"]; !set {
						c["resources"] = map[string]any{}
					}
				}
			}
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return out
}

// Request describes one AdmissionReview request.
type Request struct {
	UID         string
	Operation   admissionv1.Operation
	Resource    metav1.GroupVersionResource
	SubResource string
	Kind        metav1.GroupVersionKind
	Object      []byte
	OldObject   []byte
	DryRun      bool
}

// Review encodes r as an admission.k8s.io/v1 AdmissionReview, filling in what
// the API server always sends.
func Review(r Request) []byte {
	if r.UID == "" {
		r.UID = "705ab4f5-6393-11e8-b7cc-42010a800002"
	}
	if r.Kind.Kind == "" && r.Resource == PodsResource {
		r.Kind = metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	}
	dry := r.DryRun
	rev := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:             types.UID(r.UID),
			Kind:            r.Kind,
			Resource:        r.Resource,
			SubResource:     r.SubResource,
			RequestKind:     &r.Kind,
			RequestResource: &r.Resource,
			Name:            "web",
			Namespace:       "team-a",
			Operation:       r.Operation,
			Object:          runtime.RawExtension{Raw: r.Object},
			OldObject:       runtime.RawExtension{Raw: r.OldObject},
			DryRun:          &dry,
		},
	}
	b, err := json.Marshal(rev)
	if err != nil {
		panic(err)
	}
	return b
}

// DecodeResponse decodes an encoded AdmissionReview answer and checks its
// envelope: version, kind and a response.
func DecodeResponse(b []byte) (*admissionv1.AdmissionResponse, error) {
	var rev admissionv1.AdmissionReview
	if err := utiljson.Unmarshal(b, &rev); err != nil {
		return nil, fmt.Errorf("decoding the answer: %w", err)
	}
	if rev.APIVersion != "admission.k8s.io/v1" || rev.Kind != "AdmissionReview" {
		return nil, fmt.Errorf("answer is apiVersion %q kind %q, want admission.k8s.io/v1 AdmissionReview", rev.APIVersion, rev.Kind)
	}
	if rev.Response == nil {
		return nil, fmt.Errorf("answer has no response")
	}
	return rev.Response, nil
}

// ApplyResponse applies the response's patch, if any, to raw with the JSON
// patch library the API server uses, and decodes the result as a Pod. It
// checks that a patch comes with patchType JSONPatch and only then.
func ApplyResponse(raw []byte, resp *admissionv1.AdmissionResponse) (*corev1.Pod, []byte, error) {
	out := raw
	switch {
	case len(resp.Patch) > 0:
		if resp.PatchType == nil || *resp.PatchType != admissionv1.PatchTypeJSONPatch {
			return nil, nil, fmt.Errorf("patch without patchType JSONPatch: %v", resp.PatchType)
		}
		p, err := jsonpatch.DecodePatch(resp.Patch)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding the patch: %w", err)
		}
		if out, err = p.Apply(raw); err != nil {
			return nil, nil, fmt.Errorf("applying the patch %s: %w", resp.Patch, err)
		}
	case resp.PatchType != nil:
		return nil, nil, fmt.Errorf("patchType %q without a patch", *resp.PatchType)
	}
	pod := &corev1.Pod{}
	if err := utiljson.Unmarshal(out, pod); err != nil {
		return nil, nil, fmt.Errorf("decoding the patched pod: %w", err)
	}
	return pod, out, nil
}

// SamePod reports whether a and b are semantically equal, and a diff-like
// description when they are not.
func SamePod(a, b *corev1.Pod) (bool, string) {
	if apiequality.Semantic.DeepEqual(a, b) {
		return true, ""
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return false, fmt.Sprintf("got  %s\nwant %s", ja, jb)
}
