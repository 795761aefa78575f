package defaults

import (
	"path"

	corev1 "k8s.io/api/core/v1"
)

// serviceAccountTokenPath is where the kubelet mounts the pod's API token.
const serviceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// ruleNoServiceAccountToken keeps the pod's API credentials out of pods that
// do not use them: a token in every container is the first thing an
// attacker who gets a shell looks for. Optional: off unless configured.
//
// Sets: spec.automountServiceAccountToken = false.
//
// Stays away when:
//   - the pod sets automountServiceAccountToken (either way);
//   - the pod mounts or refers to its token: a projected serviceAccountToken
//     volume, or a container that mounts something at the token's path;
//   - the change is to the ephemeralcontainers subresource (the pod level
//     cannot change), or a container of the pod is left alone (the field
//     would reach it);
//
// Windows pods get it like any other: the field is not Linux-only.
//
// In the API server the ServiceAccount admission plugin runs before every
// webhook and has already mounted the token volume unless the ServiceAccount
// opts out, so there the rule stays away; it takes effect on manifests
// (mutate, audit), where it makes the choice explicit before the pod exists.
var ruleNoServiceAccountToken = Rule{
	ID:       "no-service-account-token",
	Summary:  "automountServiceAccountToken: false unless the pod mounts or refers to its token",
	Writes:   []string{"/spec/automountServiceAccountToken"},
	Optional: true,
	apply:    applyNoServiceAccountToken,
}

func applyNoServiceAccountToken(pod *corev1.Pod, s *scope) (bool, []string) {
	if !s.podLevel() || pod.Spec.AutomountServiceAccountToken != nil || usesToken(pod, s) {
		return false, nil
	}
	pod.Spec.AutomountServiceAccountToken = ptr(false)
	return true, nil
}

// usesToken reports whether the pod mounts a projected service account token
// or a container mounts something at the token's path. A walk cut short by
// the pass's deadline may have missed the token, so it counts as a use.
func usesToken(pod *corev1.Pod, s *scope) bool {
	for v := range s.eachVolume(pod.Spec.Volumes) {
		if v.Projected == nil {
			continue
		}
		for _, src := range v.Projected.Sources {
			if src.ServiceAccountToken != nil {
				return true
			}
		}
	}
	for c := range s.each(s.all) {
		for _, m := range *c.volumeMounts {
			if m.MountPath != "" && path.Clean(m.MountPath) == serviceAccountTokenPath {
				return true
			}
		}
	}
	return s.interrupted() != nil
}
