package defaults

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// byteSource turns fuzz input into choices; it returns zeros once exhausted.
type byteSource struct{ b []byte }

func (s *byteSource) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *byteSource) pick(n int) int { return int(s.next()) % n }

func (s *byteSource) boolPtr() *bool {
	switch s.pick(3) {
	case 1:
		return ptr(true)
	case 2:
		return ptr(false)
	}
	return nil
}

var (
	fuzzNames = []string{"app", "a", "tmp", "proxy", "debugger", strings.Repeat("n", 63), strings.Repeat("n", 62) + "m", "x-1"}
	fuzzCaps  = []corev1.Capability{"ALL", "all", "CAP_SYS_ADMIN", "SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "CHOWN"}
	fuzzPaths = []string{"/tmp", "/tmp/", "/tmp/cache", "/data", "/", "//tmp"}
	fuzzVols  = []string{"tmp-app", "tmp-a", "data", "tmp-" + strings.Repeat("n", 59), "tmp-proxy"}
)

func (s *byteSource) caps() []corev1.Capability {
	n := s.pick(4)
	var out []corev1.Capability
	for i := 0; i < n; i++ {
		out = append(out, fuzzCaps[s.pick(len(fuzzCaps))])
	}
	return out
}

func (s *byteSource) uid() *int64 {
	switch s.pick(3) {
	case 1:
		return ptr(int64(0))
	case 2:
		return ptr(int64(1000))
	}
	return nil
}

func (s *byteSource) seccomp() *corev1.SeccompProfile {
	switch s.pick(4) {
	case 1:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	case 2:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	}
	return nil
}

func (s *byteSource) container(name string) corev1.Container {
	c := corev1.Container{Name: name, Image: "img"}
	if s.pick(4) != 0 {
		sc := &corev1.SecurityContext{
			RunAsNonRoot:             s.boolPtr(),
			RunAsUser:                s.uid(),
			Privileged:               s.boolPtr(),
			AllowPrivilegeEscalation: s.boolPtr(),
			ReadOnlyRootFilesystem:   s.boolPtr(),
			SeccompProfile:           s.seccomp(),
		}
		if s.pick(2) == 1 {
			sc.Capabilities = &corev1.Capabilities{Add: s.caps(), Drop: s.caps()}
		}
		if s.pick(5) == 1 {
			sc.WindowsOptions = &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("ContainerAdministrator")}
		}
		c.SecurityContext = sc
	}
	for i, n := 0, s.pick(3); i < n; i++ {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: fuzzPaths[s.pick(len(fuzzPaths))]})
	}
	if s.pick(4) == 1 {
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	}
	return c
}

// fuzzPod builds a pod from fuzz input, with unique container names, and
// the number of its ephemeral containers to treat as already running (-1:
// a CREATE).
func fuzzPod(data []byte) (*corev1.Pod, int) {
	s := &byteSource{b: data}
	pod := newPod()
	used := map[string]bool{}
	name := func() (string, bool) {
		n := fuzzNames[s.pick(len(fuzzNames))]
		if used[n] {
			return "", false
		}
		used[n] = true
		return n, true
	}
	for i, n := 0, s.pick(3); i < n; i++ {
		if nm, ok := name(); ok {
			pod.Spec.InitContainers = append(pod.Spec.InitContainers, s.container(nm))
		}
	}
	for i, n := 0, 1+s.pick(3); i < n; i++ {
		if nm, ok := name(); ok {
			c := s.container(nm)
			c.RestartPolicy = nil
			pod.Spec.Containers = append(pod.Spec.Containers, c)
		}
	}
	for i, n := 0, s.pick(3); i < n; i++ {
		if nm, ok := name(); ok {
			c := s.container(nm)
			c.RestartPolicy = nil
			pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, ephemeral(c))
		}
	}
	vols := map[string]bool{}
	for i, n := 0, s.pick(3); i < n; i++ {
		if v := fuzzVols[s.pick(len(fuzzVols))]; !vols[v] {
			vols[v] = true
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: v,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
	}
	if s.pick(2) == 1 {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot:   s.boolPtr(),
			RunAsUser:      s.uid(),
			SeccompProfile: s.seccomp(),
		}
	}
	switch s.pick(6) {
	case 1:
		windowsPod(pod)
	case 2:
		pod.Spec.NodeSelector = map[string]string{"kubernetes.io/os": "windows"}
	case 3:
		windowsPod(pod)
		podSC(pod).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
	}
	switch s.pick(6) {
	case 1:
		pod.Annotations = map[string]string{InjectKey: InjectDisabled}
	case 2:
		pod.Annotations = map[string]string{corev1.SeccompPodAnnotationKey: "runtime/default"}
	case 3:
		pod.Annotations = map[string]string{DefaultedAnnotation: "run-as-non-root"}
	}
	running := -1
	if s.pick(3) == 1 {
		running = s.pick(len(pod.Spec.EphemeralContainers) + 1)
	}
	return pod, running
}

// FuzzApply runs the rules over random pods and checks every invariant of
// checkPass (the patch reproduces the mutated pod when applied with the API
// server's library, no user value changes, arrays only grow at the end,
// valid volume names and field combinations, idempotence), plus: Windows pods
// get no Linux-only field, and an ephemeral-container update changes nothing
// but the new ephemeral containers.
func FuzzApply(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	f.Add([]byte("\x02\x01\x03\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x02\x00\x01"))
	f.Add([]byte("read-only root with a clash: tmp-app tmp-a tmp-proxy"))
	f.Add([]byte{0, 2, 0, 3, 1, 0, 0, 1, 2, 2, 1, 1, 1, 0, 2, 1, 1, 0, 2, 2, 1, 1, 1, 1, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		pod, running := fuzzPod(data)
		var existing []corev1.EphemeralContainer
		if running >= 0 {
			existing = append([]corev1.EphemeralContainer{}, pod.Spec.EphemeralContainers[:running]...)
		}
		out, res := checkPass(t, pod, existing)
		if res.OptedOut && res.Changed() {
			t.Fatalf("opted-out pod changed")
		}
		if isWindows(pod) || isHostProcess(pod) {
			checkWindowsUntouched(t, pod, out)
		}
		if existing != nil {
			// Blank out the new ephemeral containers' security contexts on
			// both sides: the rest must be equal.
			a, b := pod.DeepCopy(), out.DeepCopy()
			for i := len(existing); i < len(a.Spec.EphemeralContainers); i++ {
				a.Spec.EphemeralContainers[i].SecurityContext = nil
				b.Spec.EphemeralContainers[i].SecurityContext = nil
			}
			if d := cmp.Diff(a, b); d != "" {
				t.Fatalf("ephemeral update changed more than the new containers' security contexts:\n%s", d)
			}
		}
	})
}

// checkWindowsUntouched asserts that the rules added nothing but runAsNonRoot
// (and the annotation) to a Windows pod, and nothing at all to a HostProcess pod.
func checkWindowsUntouched(t *testing.T, before, after *corev1.Pod) {
	t.Helper()
	a, b := before.DeepCopy(), after.DeepCopy()
	delete(b.Annotations, DefaultedAnnotation)
	if len(b.Annotations) == 0 {
		b.Annotations = a.Annotations
	}
	clear := func(p *corev1.Pod) {
		if sc := p.Spec.SecurityContext; sc != nil {
			sc.RunAsNonRoot = nil
			if cmp.Equal(*sc, corev1.PodSecurityContext{}) {
				p.Spec.SecurityContext = nil
			}
		}
		for _, c := range allContainers(p) {
			if sc := c.get(); sc != nil {
				sc.RunAsNonRoot = nil
				if cmp.Equal(*sc, corev1.SecurityContext{}) {
					*c.securityContext = nil
				}
			}
		}
	}
	if !isHostProcess(before) {
		clear(a)
		clear(b)
	}
	if d := cmp.Diff(a, b); d != "" {
		t.Fatalf("windows pod got more than runAsNonRoot:\n%s", d)
	}
}
