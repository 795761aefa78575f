package defaults

import corev1 "k8s.io/api/core/v1"

var ruleSeccompRuntimeDefault = Rule{
	ID:      "seccomp-runtime-default",
	Summary: "TODO",
	apply:   func(pod *corev1.Pod, s *scope) (bool, []string) { return false, nil },
}
