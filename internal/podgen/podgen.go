// Package podgen turns bytes into Pods for tests: the fuzzers of the rules
// and the check that runs the API server's own validation before and after
// the rules. Each byte picks one choice, so a fuzzer that mutates the bytes
// walks the shapes that matter to the rules (security contexts at both
// levels, capabilities in every spelling, Windows by each of its markers,
// deprecated seccomp annotations, user namespaces, annotations near the size
// limit, ephemeral containers) instead of random field soup.
//
// It must not import pkg/defaults, whose tests import it.
package podgen

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Annotation keys the generator sets. The project's own keys are spelled out
// here because pkg/defaults cannot be imported (see the package doc).
const (
	injectKey           = "secure-defaults.dev/inject"
	defaultedAnnotation = "secure-defaults.dev/defaulted"
	// annotationLimit is the API server's total size of annotations.
	annotationLimit = 256 << 10
)

// source turns input bytes into choices; it returns zeros once exhausted.
type source struct{ b []byte }

func (s *source) next() byte {
	if len(s.b) == 0 {
		return 0
	}
	v := s.b[0]
	s.b = s.b[1:]
	return v
}

func (s *source) pick(n int) int { return int(s.next()) % n }

func (s *source) boolPtr() *bool {
	switch s.pick(3) {
	case 1:
		return ptr(true)
	case 2:
		return ptr(false)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }

var (
	names        = []string{"app", "a", "tmp", "proxy", "debugger", strings.Repeat("n", 63), strings.Repeat("n", 62) + "m", "x-1"}
	capabilities = []corev1.Capability{"ALL", "all", "All", "CAP_ALL", "cap_all", "CAP_SYS_ADMIN", "SYS_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "CHOWN"}
	paths        = []string{"/tmp", "/tmp/", "/tmp/cache", "/data", "/", "//tmp"}
	volumes      = []string{"tmp-app", "tmp-a", "data", "tmp-" + strings.Repeat("n", 59), "tmp-proxy"}
	seccompNotes = []string{"runtime/default", "docker/default", "unconfined", "localhost/profiles/audit.json", "localhost/", "localhost/../x"}
)

func (s *source) caps() []corev1.Capability {
	n := s.pick(4)
	var out []corev1.Capability
	for i := 0; i < n; i++ {
		out = append(out, capabilities[s.pick(len(capabilities))])
	}
	return out
}

func (s *source) uid() *int64 {
	switch s.pick(3) {
	case 1:
		return ptr(int64(0))
	case 2:
		return ptr(int64(1000))
	}
	return nil
}

func (s *source) seccomp() *corev1.SeccompProfile {
	switch s.pick(5) {
	case 1:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	case 2:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
	case 3:
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("profiles/audit.json")}
	}
	return nil
}

func (s *source) container(name string) corev1.Container {
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
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "data", MountPath: paths[s.pick(len(paths))]})
	}
	if s.pick(4) == 1 {
		c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	}
	return c
}

func windowsAffinity() *corev1.Affinity {
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"windows"}}},
		}}},
	}}
}

// Pod builds a pod from data, with unique container names, and returns the
// number of its ephemeral containers to treat as already running: -1 means
// a CREATE, n >= 0 an update of the ephemeralcontainers subresource whose
// old pod had the first n.
func Pod(data []byte) (*corev1.Pod, int) {
	s := &source{b: data}
	pod := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "team-a", Labels: map[string]string{"app": "app"}},
	}
	used := map[string]bool{}
	name := func() (string, bool) {
		n := names[s.pick(len(names))]
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
	if len(pod.Spec.Containers) == 0 {
		pod.Spec.Containers = []corev1.Container{{Name: "main", Image: "img"}}
	}
	for i, n := 0, s.pick(3); i < n; i++ {
		if nm, ok := name(); ok {
			c := s.container(nm)
			c.RestartPolicy = nil
			pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{
					Name: c.Name, Image: c.Image, SecurityContext: c.SecurityContext, VolumeMounts: c.VolumeMounts,
				}, TargetContainerName: pod.Spec.Containers[0].Name})
		}
	}
	vols := map[string]bool{}
	for i, n := 0, s.pick(3); i < n; i++ {
		if v := volumes[s.pick(len(volumes))]; !vols[v] {
			vols[v] = true
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: v,
				VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
	}
	// Mounts name "data": give most pods that volume, so they are valid.
	if !vols["data"] && s.pick(4) != 3 {
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "data",
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	if s.pick(2) == 1 {
		pod.Spec.SecurityContext = &corev1.PodSecurityContext{
			RunAsNonRoot:   s.boolPtr(),
			RunAsUser:      s.uid(),
			SeccompProfile: s.seccomp(),
		}
	}
	switch s.pick(7) {
	case 1:
		pod.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
	case 2:
		pod.Spec.NodeSelector = map[string]string{corev1.LabelOSStable: "windows"}
	case 3:
		pod.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
		podSC(pod).WindowsOptions = &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}
		pod.Spec.HostNetwork = true
	case 4:
		pod.Spec.Affinity = windowsAffinity()
	case 5:
		pod.Spec.HostUsers = ptr(false)
	}
	if pod.Spec.OS != nil && s.pick(4) != 3 {
		// Most Windows pods leave out the fields the API server rejects
		// on Windows, so they are valid and test something.
		stripLinuxOnly(pod)
	}
	annotate := func(k, v string) {
		if pod.Annotations == nil {
			pod.Annotations = map[string]string{}
		}
		pod.Annotations[k] = v
	}
	slack := -1
	for i, n := 0, s.pick(3); i < n; i++ {
		switch s.pick(6) {
		case 1:
			annotate(injectKey, "disabled")
		case 2:
			annotate(corev1.SeccompPodAnnotationKey, seccompNotes[s.pick(len(seccompNotes))])
		case 3:
			annotate(defaultedAnnotation, "run-as-non-root")
		case 4:
			annotate(corev1.SeccompContainerAnnotationKeyPrefix+names[s.pick(len(names))], seccompNotes[s.pick(len(seccompNotes))])
		case 5:
			slack = s.pick(160)
		}
	}
	if slack >= 0 {
		// Annotations within a few bytes of the API server's limit, added
		// last so that nothing pushes them over it.
		const key = "example.com/blob"
		used := 0
		for k, v := range pod.Annotations {
			used += len(k) + len(v)
		}
		annotate(key, strings.Repeat("x", annotationLimit-used-len(key)-slack))
	}
	running := -1
	if s.pick(3) == 1 {
		running = s.pick(len(pod.Spec.EphemeralContainers) + 1)
	}
	return pod, running
}

func podSC(p *corev1.Pod) *corev1.PodSecurityContext {
	if p.Spec.SecurityContext == nil {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	return p.Spec.SecurityContext
}

// stripLinuxOnly removes the fields the API server rejects in a pod with
// spec.os.name: windows.
func stripLinuxOnly(pod *corev1.Pod) {
	if sc := pod.Spec.SecurityContext; sc != nil {
		sc.RunAsUser, sc.SeccompProfile = nil, nil
	}
	for _, sc := range securityContexts(pod) {
		sc.RunAsUser, sc.SeccompProfile, sc.Capabilities = nil, nil, nil
		sc.Privileged, sc.AllowPrivilegeEscalation, sc.ReadOnlyRootFilesystem = nil, nil, nil
	}
}

func securityContexts(pod *corev1.Pod) []*corev1.SecurityContext {
	var out []*corev1.SecurityContext
	for _, l := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range l {
			if l[i].SecurityContext != nil {
				out = append(out, l[i].SecurityContext)
			}
		}
	}
	for i := range pod.Spec.EphemeralContainers {
		if sc := pod.Spec.EphemeralContainers[i].SecurityContext; sc != nil {
			out = append(out, sc)
		}
	}
	return out
}
