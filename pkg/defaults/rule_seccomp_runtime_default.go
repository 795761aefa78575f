package defaults

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ruleSeccompRuntimeDefault confines every container with the container
// runtime's default seccomp profile, and turns the deprecated seccomp
// annotations, which kubelets ignore since v1.27, into the fields they stand
// for.
//
// Sets:
//   - <container>.securityContext.seccompProfile from the deprecated
//     annotation container.seccomp.security.alpha.kubernetes.io/<name>, on
//     each container that has the annotation and no profile: runtime/default
//     and docker/default give {type: RuntimeDefault}, localhost/<p> gives
//     {type: Localhost, localhostProfile: <p>}. The API server accepts an
//     annotation next to a field that says the same;
//   - spec.securityContext.seccompProfile: what the deprecated pod annotation
//     seccomp.security.alpha.kubernetes.io/pod says (translated as above), or
//     {type: RuntimeDefault} when there is none;
//   - for the ephemeralcontainers subresource, where the pod level cannot
//     change, the pod-level profile on each new ephemeral container instead;
//   - when a container keeps an unconfined annotation (below), the pod-level
//     profile on each other container without one instead of at pod level,
//     so that container is not confined against its annotation.
//
// Stays away when:
//   - the pod is a Windows pod (the API server rejects seccomp there);
//   - the pod sets a profile (any type): nothing at pod level;
//   - a container sets its own profile (it overrides the pod's);
//   - an annotation says unconfined, or something that is not a profile: that
//     stays the user's choice, for the pod or that container, with a warning.
var ruleSeccompRuntimeDefault = Rule{
	ID:      "seccomp-runtime-default",
	Summary: "seccompProfile {type: RuntimeDefault} at pod level, or what the deprecated seccomp annotations say; containers with their own profile keep it",
	Writes:  append([]string{"/spec/securityContext/seccompProfile"}, inEveryContainer("securityContext/seccompProfile")...),
	apply:   applySeccompRuntimeDefault,
}

func applySeccompRuntimeDefault(pod *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	changed := false
	var warnings []string
	// keepsAnnotation: containers whose annotation is not translated stay
	// without a field, and the pod-level profile must not cover them. Made
	// only for a pod that has such an annotation, which few have.
	var keepsAnnotation map[string]bool
	for c := range s.each(s.containers) {
		if sc := c.get(); sc != nil && sc.SeccompProfile != nil {
			continue
		}
		key := corev1.SeccompContainerAnnotationKeyPrefix + c.name
		v, ok := pod.Annotations[key]
		if !ok {
			continue
		}
		if p := profileForAnnotation(v); p != nil {
			c.sc().SeccompProfile = p
			changed = true
			continue
		}
		if keepsAnnotation == nil {
			keepsAnnotation = map[string]bool{}
		}
		keepsAnnotation[c.name] = true
		warnings = append(warnings, fmt.Sprintf(
			"%s %q has the deprecated annotation %s=%q, which kubelets ignore, so seccompProfile was not set for it; set its securityContext.seccompProfile instead",
			c.kind.singular(), c.name, key, v))
	}

	podProfile := runtimeDefault()
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		return changed, warnings
	}
	if v, ok := pod.Annotations[corev1.SeccompPodAnnotationKey]; ok {
		if podProfile = profileForAnnotation(v); podProfile == nil {
			return changed, append(warnings, fmt.Sprintf(
				"the pod has the deprecated annotation %s=%q, which kubelets ignore, so seccompProfile was not set; use spec.securityContext.seccompProfile instead",
				corev1.SeccompPodAnnotationKey, v))
		}
	}
	if s.podLevel() && len(keepsAnnotation) == 0 {
		if pod.Spec.SecurityContext == nil {
			pod.Spec.SecurityContext = &corev1.PodSecurityContext{}
		}
		pod.Spec.SecurityContext.SeccompProfile = podProfile
		return true, warnings
	}
	for c := range s.each(s.containers) {
		if sc := c.get(); (sc != nil && sc.SeccompProfile != nil) || keepsAnnotation[c.name] {
			continue
		}
		c.sc().SeccompProfile = podProfile.DeepCopy()
		changed = true
	}
	return changed, warnings
}

func runtimeDefault() *corev1.SeccompProfile {
	return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
}

// profileForAnnotation returns the seccompProfile field that says what the
// deprecated annotation value v says, as the API server matches them, or nil
// for unconfined and for values that name no usable profile.
func profileForAnnotation(v string) *corev1.SeccompProfile {
	switch {
	case v == corev1.SeccompProfileRuntimeDefault || v == corev1.DeprecatedSeccompProfileDockerDefault:
		return runtimeDefault()
	case strings.HasPrefix(v, corev1.SeccompLocalhostProfileNamePrefix):
		p := strings.TrimPrefix(v, corev1.SeccompLocalhostProfileNamePrefix)
		// The API server wants a relative path without "..": the same
		// check it makes of the annotation. An empty name loads nothing.
		if p == "" || path.IsAbs(p) || strings.Contains("/"+p+"/", "/../") {
			return nil
		}
		return &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: &p}
	}
	return nil
}
