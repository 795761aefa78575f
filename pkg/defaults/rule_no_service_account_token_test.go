package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNoServiceAccountToken(t *testing.T) {
	on := Options{Rules: map[string]bool{ruleNoServiceAccountToken.ID: true}}
	noToken := func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr(false) }
	running := runningPod()
	cases := registerCases(ruleNoServiceAccountToken.ID, []ruleCase{
		{name: "unset: false", tags: []string{tagUnset}, opts: on,
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), noToken)},
		{name: "already false", tags: []string{tagSet}, opts: on,
			in: tweak(newPod(ctr("app")), noToken)},
		{name: "user says true", tags: []string{tagOtherWay}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr(true) })},
		{name: "projected token volume: the pod uses its token", tags: []string{tagOtherWay}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}}}
			})},
		{name: "init container mounts the token path", tags: []string{tagInit}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				c := ctr("init")
				c.VolumeMounts = []corev1.VolumeMount{{Name: "kube-api-access", MountPath: serviceAccountTokenPath + "/"}}
				p.Spec.InitContainers = []corev1.Container{c}
				p.Spec.Volumes = []corev1.Volume{{Name: "kube-api-access", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
			})},
		{name: "sidecar without a token: false", tags: []string{tagSidecar, tagInit}, opts: on,
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{sidecar(ctr("proxy"))} }),
			want: tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{sidecar(ctr("proxy"))} }, noToken)},
		{name: "ephemeral: the pod level cannot change", tags: []string{tagEphemeral}, opts: on,
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers},
		{name: "windows pod: false as well", tags: []string{tagWindows}, opts: on,
			in: tweak(newPod(ctr("app")), windowsPod), want: tweak(newPod(ctr("app")), windowsPod, noToken)},
		{name: "a container left alone: the field would reach it", tags: []string{tagOtherWay},
			opts: Options{Rules: on.Rules, ExcludeContainers: []string{"legacy"}},
			in:   newPod(ctr("app"), ctr("legacy"))},
	})
	runRuleCases(t, ruleNoServiceAccountToken, cases)
}
