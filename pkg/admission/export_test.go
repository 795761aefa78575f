package admission

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// SetApply replaces the rules of h, so tests can make them panic.
func (h *Handler) SetApply(apply func(*corev1.Pod, defaults.Options) defaults.Result) {
	h.apply = apply
}

// DescribePatch is describePatch, for the audit tests.
var DescribePatch = describePatch
