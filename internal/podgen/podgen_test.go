package podgen

import (
	"math/rand/v2"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestPodShapes checks what the users of Pod rely on: it never panics, names
// are unique within the pod, there is always a container, the running count
// fits, and annotations stay within the API server's size limit.
func TestPodShapes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	seen := map[string]bool{}
	for i := 0; i < 5000; i++ {
		data := make([]byte, rng.IntN(128))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		pod, running := Pod(data)
		if len(pod.Spec.Containers) == 0 {
			t.Fatalf("%x: no containers", data)
		}
		names := map[string]bool{}
		for _, n := range containerNames(pod.Spec.InitContainers, pod.Spec.Containers) {
			if names[n] {
				t.Fatalf("%x: container name %q twice", data, n)
			}
			names[n] = true
		}
		for _, e := range pod.Spec.EphemeralContainers {
			if names[e.Name] {
				t.Fatalf("%x: container name %q twice", data, e.Name)
			}
			names[e.Name] = true
		}
		if running < -1 || running > len(pod.Spec.EphemeralContainers) {
			t.Fatalf("%x: running = %d with %d ephemeral containers", data, running, len(pod.Spec.EphemeralContainers))
		}
		size := 0
		for k, v := range pod.Annotations {
			size += len(k) + len(v)
		}
		if size > annotationLimit {
			t.Fatalf("%x: annotations total %d bytes, over the limit", data, size)
		}
		switch {
		case pod.Spec.Affinity != nil:
			seen["affinity"] = true
		case pod.Spec.HostUsers != nil:
			seen["hostUsers"] = true
		case size > annotationLimit-200:
			seen["near the limit"] = true
		}
	}
	for _, shape := range []string{"affinity", "hostUsers", "near the limit"} {
		if !seen[shape] {
			t.Errorf("no pod with %s in 5000", shape)
		}
	}
}

func containerNames(lists ...[]corev1.Container) []string {
	var out []string
	for _, l := range lists {
		for _, c := range l {
			out = append(out, c.Name)
		}
	}
	return out
}
