package defaults

import (
	"iter"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// containerKind names the list a container belongs to, as in the Pod's JSON.
type containerKind string

const (
	kindInit      containerKind = "initContainers"
	kindRegular   containerKind = "containers"
	kindEphemeral containerKind = "ephemeralContainers"
)

// container is a handle on one container of any kind, so rules treat init,
// regular and ephemeral containers alike. Its pointers point into the Pod.
type container struct {
	kind            containerKind
	name            string
	securityContext **corev1.SecurityContext
	volumeMounts    *[]corev1.VolumeMount
	volumeDevices   []corev1.VolumeDevice
	image           string
	// root says why the container needs root (see root.go), or is "". It is
	// worked out once, before any rule runs, so every rule sees the same.
	root string
	// scoped is set when the container is one this pass defaults.
	scoped bool
}

// sc returns the container's security context, creating it if needed.
func (c container) sc() *corev1.SecurityContext {
	if *c.securityContext == nil {
		*c.securityContext = &corev1.SecurityContext{}
	}
	return *c.securityContext
}

// get returns the container's security context, or nil.
func (c container) get() *corev1.SecurityContext { return *c.securityContext }

// scope is what one pass of the rules may touch.
type scope struct {
	// containers the rules default, in pod order: init, regular, ephemeral.
	containers []container
	// all holds every container of the pod, in the same order, including
	// those outside the scope (rules read them, e.g. for runAsUser: 0).
	all []container
	// ephemeralOnly is set for the ephemeralcontainers subresource: pod-level
	// fields, volumes and annotations must not change.
	ephemeralOnly bool
	// windows is set for Windows pods, which take none of the Linux-only
	// fields; hostProcess for Windows HostProcess pods, which take nothing.
	windows     bool
	hostProcess bool
	// excluded is set when some container of the pod is left alone (skip
	// annotation or exclusion pattern): a pod-level value would reach it, so
	// rules set per container what they would set at pod level.
	excluded bool
	// opts are the options of this pass, for rules that take settings.
	opts Options
}

// each yields cs in order until the pass's context is done, so no loop over
// a pod's containers outlives the review's deadline; apply then reports the
// interruption and the half-changed pod is thrown away.
func (s *scope) each(cs []container) iter.Seq[container] {
	return func(yield func(container) bool) {
		for _, c := range cs {
			if s.interrupted() != nil || !yield(c) {
				return
			}
		}
	}
}

// eachVolume yields pointers to vs in order until the pass's context is
// done, as each does for containers. A caller whose answer depends on
// seeing every volume asks interrupted after the loop.
func (s *scope) eachVolume(vs []corev1.Volume) iter.Seq[*corev1.Volume] {
	return func(yield func(*corev1.Volume) bool) {
		for i := range vs {
			if s.interrupted() != nil || !yield(&vs[i]) {
				return
			}
		}
	}
}

// interrupted returns the context's error once the pass must stop.
func (s *scope) interrupted() error {
	if s.opts.Context == nil {
		return nil
	}
	return s.opts.Context.Err()
}

// podLevel reports whether rules may set pod-level fields: not on the
// ephemeralcontainers subresource, and not while a container of the pod is
// left alone.
func (s *scope) podLevel() bool { return !s.ephemeralOnly && !s.excluded }

// exclude takes the named containers out of the scope and returns those of
// them that were in it, in pod order.
func (s *scope) exclude(reasons map[string]string) []SkippedContainer {
	if len(reasons) == 0 {
		return nil
	}
	s.excluded = true
	var skipped []SkippedContainer
	kept := s.containers[:0:0]
	for _, c := range s.containers {
		if r, ok := reasons[c.name]; ok {
			skipped = append(skipped, SkippedContainer{Name: c.name, Reason: r})
			continue
		}
		kept = append(kept, c)
	}
	s.containers = kept
	for i := range s.all {
		if _, ok := reasons[s.all[i].name]; ok {
			s.all[i].scoped = false
		}
	}
	return skipped
}

// newScope builds the scope for pod. With existing == nil every container is
// in scope; otherwise only ephemeral containers whose names are not in it.
// facts adds what the caller knows beyond the manifest.
func newScope(pod *corev1.Pod, existing map[string]bool, facts Facts) *scope {
	s := &scope{ephemeralOnly: existing != nil}
	s.all = allContainers(pod)
	for i := range s.all {
		c := &s.all[i]
		c.root = needsRoot(pod.Spec.SecurityContext, c.get(), facts.NeedsRoot[c.name])
	}
	for i := range s.all {
		c := &s.all[i]
		if existing == nil || (c.kind == kindEphemeral && !existing[c.name]) {
			c.scoped = true
			s.containers = append(s.containers, *c)
		}
	}
	s.hostProcess = isHostProcess(pod.Spec.SecurityContext, s.all)
	s.windows = s.hostProcess || isWindows(pod)
	return s
}

// isWindows reports whether pod runs on Windows: spec.os.name says so, or (for
// pods written before spec.os existed) its nodeSelector or its required node
// affinity pins it to Windows nodes, where Linux-only fields make no sense
// either.
func isWindows(pod *corev1.Pod) bool {
	if pod.Spec.OS != nil {
		return strings.EqualFold(string(pod.Spec.OS.Name), string(corev1.Windows))
	}
	return strings.EqualFold(pod.Spec.NodeSelector[corev1.LabelOSStable], string(corev1.Windows)) ||
		affinityPinsWindows(pod.Spec.Affinity)
}

// affinityPinsWindows reports whether the required node affinity admits
// Windows nodes only: the terms are alternatives, so each must require
// kubernetes.io/os In [windows] (expressions within a term all apply).
func affinityPinsWindows(a *corev1.Affinity) bool {
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return false
	}
	for _, term := range terms {
		if !termPinsWindows(term) {
			return false
		}
	}
	return true
}

func termPinsWindows(term corev1.NodeSelectorTerm) bool {
	for _, e := range term.MatchExpressions {
		if e.Key != corev1.LabelOSStable || e.Operator != corev1.NodeSelectorOpIn || len(e.Values) == 0 {
			continue
		}
		onlyWindows := true
		for _, v := range e.Values {
			if !strings.EqualFold(v, string(corev1.Windows)) {
				onlyWindows = false
			}
		}
		if onlyWindows {
			return true
		}
	}
	return false
}

// isHostProcess reports whether the pod, with security context podSC and the
// containers all, or any of its containers asks for a Windows HostProcess
// container.
func isHostProcess(podSC *corev1.PodSecurityContext, all []container) bool {
	if podSC != nil && podSC.WindowsOptions != nil && isTrue(podSC.WindowsOptions.HostProcess) {
		return true
	}
	for _, c := range all {
		if sc := c.get(); sc != nil && sc.WindowsOptions != nil && isTrue(sc.WindowsOptions.HostProcess) {
			return true
		}
	}
	return false
}

// allContainers returns handles on every container of pod, in pod order.
func allContainers(pod *corev1.Pod) []container {
	var out []container
	spec := &pod.Spec
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		out = append(out, container{kind: kindInit, name: c.Name, securityContext: &c.SecurityContext, volumeMounts: &c.VolumeMounts, volumeDevices: c.VolumeDevices, image: c.Image})
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		out = append(out, container{kind: kindRegular, name: c.Name, securityContext: &c.SecurityContext, volumeMounts: &c.VolumeMounts, volumeDevices: c.VolumeDevices, image: c.Image})
	}
	for i := range spec.EphemeralContainers {
		c := &spec.EphemeralContainers[i].EphemeralContainerCommon
		out = append(out, container{kind: kindEphemeral, name: c.Name, securityContext: &c.SecurityContext, volumeMounts: &c.VolumeMounts, volumeDevices: c.VolumeDevices, image: c.Image})
	}
	return out
}

func isTrue(b *bool) bool  { return b != nil && *b }
func isFalse(b *bool) bool { return b != nil && !*b }
func ptr[T any](v T) *T    { return &v }

// singular names one container of the kind, for messages.
func (k containerKind) singular() string {
	switch k {
	case kindInit:
		return "init container"
	case kindEphemeral:
		return "ephemeral container"
	}
	return "container"
}

// inScope reports whether c is one of the containers this pass defaults.
func (s *scope) inScope(c container) bool { return c.scoped }

// capabilityIn reports whether list holds capability name, in any case and
// with or without the CAP_ prefix, as container runtimes read it.
func capabilityIn(list []corev1.Capability, names ...string) bool {
	for _, c := range list {
		v := strings.TrimPrefix(strings.ToUpper(string(c)), "CAP_")
		for _, n := range names {
			if v == n {
				return true
			}
		}
	}
	return false
}
