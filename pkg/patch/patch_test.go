package patch

import (
	"encoding/json"
	"strings"
	"testing"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
)

// rawPod is a pod as a client might send it: fields this code's types do not
// know, explicit nulls and empty objects, and numbers beyond float64's
// precision.
const rawPod = `{
  "apiVersion": "v1", "kind": "Pod",
  "metadata": {"name": "web", "annotations": {"a": "b"}, "futureField": {"x": 1}},
  "spec": {
    "securityContext": null,
    "futureSpecField": [3, 2, 1],
    "containers": [
      {"name": "app", "image": "nginx", "securityContext": {"capabilities": {"drop": []}, "futureScField": true},
       "resources": {}, "env": [{"name": "BIG", "value": "9007199254740993"}]},
      {"name": "sidecar", "image": "envoy", "securityContext": {"runAsUser": 9007199254740993}}
    ]
  }
}`

func TestCreateAppliesToRawObject(t *testing.T) {
	var before corev1.Pod
	if err := json.Unmarshal([]byte(rawPod), &before); err != nil {
		t.Fatal(err)
	}
	after := before.DeepCopy()
	after.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr(true)}
	after.Spec.Containers[0].SecurityContext.Capabilities.Drop = []corev1.Capability{"ALL"}
	after.Spec.Containers[1].SecurityContext.AllowPrivilegeEscalation = ptr(false)
	after.Spec.Volumes = append(after.Spec.Volumes, corev1.Volume{Name: "tmp-app"})
	after.Annotations["secure-defaults.dev/defaulted"] = "x"

	p, err := Create(&before, after)
	if err != nil {
		t.Fatal(err)
	}
	ops, err := jsonpatch.DecodePatch(p)
	if err != nil {
		t.Fatalf("patch %s: %v", p, err)
	}
	if len(ops) != 5 {
		t.Errorf("want 5 operations (one per change), got %d: %s", len(ops), p)
	}
	out, err := ops.Apply([]byte(rawPod))
	if err != nil {
		t.Fatalf("applying %s: %v", p, err)
	}
	var got map[string]any
	dec := json.NewDecoder(strings.NewReader(string(out)))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	// Unknown fields, empty objects and exact numbers survive untouched.
	spec := got["spec"].(map[string]any)
	if spec["futureSpecField"] == nil || got["metadata"].(map[string]any)["futureField"] == nil {
		t.Errorf("unknown fields lost: %s", out)
	}
	c0 := spec["containers"].([]any)[0].(map[string]any)
	if c0["securityContext"].(map[string]any)["futureScField"] != true {
		t.Errorf("unknown container field lost: %s", out)
	}
	c1 := spec["containers"].([]any)[1].(map[string]any)
	if n := c1["securityContext"].(map[string]any)["runAsUser"].(json.Number); n.String() != "9007199254740993" {
		t.Errorf("runAsUser changed to %s", n)
	}
	var patched corev1.Pod
	if err := json.Unmarshal(out, &patched); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(after)
	have, _ := json.Marshal(&patched)
	if string(want) != string(have) {
		t.Errorf("patched pod differs from mutated:\nwant %s\nhave %s", want, have)
	}
}

func TestCreateNoChange(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	p, err := Create(pod, pod.DeepCopy())
	if err != nil || p != nil {
		t.Fatalf("Create(equal) = %s, %v; want nil, nil", p, err)
	}
}

func TestCreateRecoversFromLibraryPanic(t *testing.T) {
	// The library type-asserts array elements of equal-length arrays without
	// checking: an object replaced by a number at the same index panics.
	ops, err := createFromJSON([]byte(`{"a":[{"b":1}]}`), []byte(`{"a":[1]}`))
	if err == nil || ops != nil {
		t.Fatalf("got %v, %v; want an error", ops, err)
	}
	if !strings.Contains(err.Error(), "computing JSON patch") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestPatchRejectsChangedContainerList(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	snap := Take(pod)
	grown := pod.DeepCopy()
	grown.Spec.Containers = append(grown.Spec.Containers, corev1.Container{Name: "b"})
	if p, err := snap.Patch(grown); err == nil {
		t.Fatalf("added container: got patch %s, want an error", p)
	}
	shrunk := pod.DeepCopy()
	shrunk.Spec.Containers = nil
	if p, err := snap.Patch(shrunk); err == nil {
		t.Fatalf("removed container: got patch %s, want an error", p)
	}
}

func TestSnapshotIsACopy(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a",
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}}}}}}
	pod.Annotations = map[string]string{"k": "v"}
	snap := Take(pod)
	// Mutate in place, as the rules do.
	pod.Annotations["secure-defaults.dev/defaulted"] = "drop-all-capabilities"
	pod.Spec.Containers[0].SecurityContext.Capabilities.Drop = append(pod.Spec.Containers[0].SecurityContext.Capabilities.Drop, "ALL")
	p, err := snap.Patch(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		`{"op":"add","path":"/metadata/annotations/secure-defaults.dev~1defaulted","value":"drop-all-capabilities"}`: true,
		`{"op":"add","path":"/spec/containers/0/securityContext/capabilities/drop/1","value":"ALL"}`:                 true,
	}
	var ops []json.RawMessage
	if err := json.Unmarshal(p, &ops); err != nil {
		t.Fatal(err)
	}
	for _, op := range ops {
		if !want[string(op)] {
			t.Errorf("unexpected operation %s", op)
		}
		delete(want, string(op))
	}
	for op := range want {
		t.Errorf("missing operation %s", op)
	}
}

func TestPatchIsDeterministic(t *testing.T) {
	before := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a",
		SecurityContext: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}}}}}}
	after := before.DeepCopy()
	sc := after.Spec.Containers[0].SecurityContext
	sc.Capabilities.Drop = append(sc.Capabilities.Drop, "ALL")
	sc.AllowPrivilegeEscalation = ptr(false)
	sc.RunAsNonRoot = ptr(true)
	sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	first, err := Create(before, after)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		again, err := Create(before, after)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(first) {
			t.Fatalf("run %d gave\n%s\nafter\n%s", i, again, first)
		}
	}
}

func TestComparePointers(t *testing.T) {
	ordered := []string{"/a", "/a/2", "/a/10", "/a/x", "/b"}
	for i := 1; i < len(ordered); i++ {
		if comparePointers(ordered[i-1], ordered[i]) >= 0 {
			t.Errorf("%q should sort before %q", ordered[i-1], ordered[i])
		}
	}
}
