//go:build e2e

package e2e

import (
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
)

// needNode skips t when the node is turned off (nodeEnv=off), saying so.
func needNode(t *testing.T) {
	t.Helper()
	if controlPlane.Node == nil {
		t.Skipf("no kubelet and containerd: %s=off; pods do not run", nodeEnv)
	}
}

// probePod is a pod of one container running image, bound to the node.
func probePod(ns, name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: name + "-", Namespace: ns},
		Spec: corev1.PodSpec{
			NodeName:                      framework.NodeName,
			AutomountServiceAccountToken:  new(false),
			TerminationGracePeriodSeconds: new(int64(1)),
			Containers:                    []corev1.Container{{Name: "app", Image: image}},
		},
	}
}

// median of ds.
func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}
