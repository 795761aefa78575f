package patch_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/patch"
)

// benchPod decodes the pod of the admission package's benchmark review (a
// Deployment's pod) and gives its first container envVars env vars.
func benchPod(b *testing.B, envVars int) *corev1.Pod {
	b.Helper()
	raw, err := os.ReadFile("../admission/testdata/review-deployment-pod.json")
	if err != nil {
		b.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &review); err != nil {
		b.Fatal(err)
	}
	pod := &corev1.Pod{}
	if err := json.Unmarshal(review.Request.Object.Raw, pod); err != nil {
		b.Fatal(err)
	}
	for i := range envVars {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%05d", i), Value: "v"})
	}
	return pod
}

// BenchmarkCreate measures Take + Patch for the rules' changes to a realistic
// pod; env vars are outside the snapshot, so their number should not matter.
func BenchmarkCreate(b *testing.B) {
	for _, n := range []int{0, 1000} {
		original := benchPod(b, n)
		mutated := original.DeepCopy()
		if !defaults.Apply(mutated, defaults.Options{}).Changed() {
			b.Fatal("the rules left the fixture unchanged")
		}
		b.Run(fmt.Sprintf("env=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := patch.Create(original, mutated)
				if err != nil || len(p) == 0 {
					b.Fatalf("patch %q, error %v", p, err)
				}
			}
		})
	}
}
