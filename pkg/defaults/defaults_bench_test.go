package defaults_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// BenchmarkApply measures the rules alone on the pod of the admission
// package's benchmark review (a Deployment's pod, three containers), each
// iteration on a fresh copy.
func BenchmarkApply(b *testing.B) {
	raw, err := os.ReadFile("../admission/testdata/review-deployment-pod.json")
	if err != nil {
		b.Fatal(err)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(raw, &review); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{0, 1000} {
		pod := &corev1.Pod{}
		if err := json.Unmarshal(review.Request.Object.Raw, pod); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%05d", i), Value: "v"})
		}
		copies := make([]*corev1.Pod, 0, 1024)
		b.Run(fmt.Sprintf("env=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if len(copies) == 0 {
					for range cap(copies) {
						copies = append(copies, pod.DeepCopy())
					}
				}
				p := copies[len(copies)-1]
				copies = copies[:len(copies)-1]
				b.StartTimer()
				if !defaults.Apply(p, defaults.Options{}).Changed() {
					b.Fatal("the rules left the fixture unchanged")
				}
			}
		})
	}
}
