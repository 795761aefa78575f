package defaults

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestTmpEmptyDir(t *testing.T) {
	ro := &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)}
	roCtr := func(name string, mounts ...corev1.VolumeMount) corev1.Container {
		c := withSC(ctr(name), ro)
		c.VolumeMounts = mounts
		return c
	}
	tmpMount := func(vol string) corev1.VolumeMount { return corev1.VolumeMount{Name: vol, MountPath: "/tmp"} }
	emptyDir := func(name string) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	withVolumes := func(vs ...corev1.Volume) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, vs...) }
	}
	config := corev1.Volume{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
		LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}
	long := strings.Repeat("a", 63)
	longHashed := tmpVolumeName(long, map[string]bool{})
	clashHashed := tmpVolumeName("app", map[string]bool{"tmp-app": true})
	running := newPod(roCtr("app", tmpMount("tmp")))
	running.Spec.Volumes = []corev1.Volume{emptyDir("tmp")}
	cases := registerCases(ruleTmpEmptyDir.ID, []ruleCase{
		{name: "unset: read-only root gets /tmp", tags: []string{tagUnset},
			in:   tweak(newPod(roCtr("app")), withVolumes(config)),
			want: tweak(newPod(roCtr("app", tmpMount("tmp-app"))), withVolumes(config, emptyDir("tmp-app")))},
		{name: "writable root filesystem: nothing", tags: []string{tagUnset},
			in: newPod(ctr("app"))},
		{name: "readOnlyRootFilesystem false: nothing", tags: []string{tagOtherWay},
			in: newPod(withSC(ctr("app"), &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(false)}))},
		{name: "already mounts /tmp", tags: []string{tagSet},
			in: tweak(newPod(roCtr("app", corev1.VolumeMount{Name: "scratch", MountPath: "/tmp/"})), withVolumes(emptyDir("scratch")))},
		{name: "mounts below /tmp only: /tmp still added", tags: []string{tagUnset},
			in: tweak(newPod(roCtr("app", corev1.VolumeMount{Name: "config", MountPath: "/tmp/config"})), withVolumes(config)),
			want: tweak(newPod(roCtr("app", corev1.VolumeMount{Name: "config", MountPath: "/tmp/config"}, tmpMount("tmp-app"))),
				withVolumes(config, emptyDir("tmp-app")))},
		{name: "block device at /tmp", tags: []string{tagSet},
			in: tweak(newPod(func() corev1.Container {
				c := roCtr("app")
				c.VolumeDevices = []corev1.VolumeDevice{{Name: "raw", DevicePath: "/tmp"}}
				return c
			}()), withVolumes(corev1.Volume{Name: "raw", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "raw"}}}))},
		{name: "name clash with a user volume", tags: []string{tagUnset},
			in: tweak(newPod(roCtr("app", corev1.VolumeMount{Name: "tmp-app", MountPath: "/cache"})), withVolumes(emptyDir("tmp-app"))),
			want: tweak(newPod(roCtr("app", corev1.VolumeMount{Name: "tmp-app", MountPath: "/cache"}, tmpMount(clashHashed))),
				withVolumes(emptyDir("tmp-app"), emptyDir(clashHashed)))},
		{name: "63-character container name", tags: []string{tagUnset},
			in: newPod(roCtr(long)), want: tweak(newPod(roCtr(long, tmpMount(longHashed))), withVolumes(emptyDir(longHashed)))},
		{name: "one volume per container, init and sidecar included", tags: []string{tagInit, tagSidecar},
			in: tweak(newPod(roCtr("app"), ctr("writable")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{roCtr("migrate"), sidecar(roCtr("proxy"))}
			}),
			want: tweak(newPod(roCtr("app", tmpMount("tmp-app")), ctr("writable")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{roCtr("migrate", tmpMount("tmp-migrate")), sidecar(roCtr("proxy", tmpMount("tmp-proxy")))}
			}, withVolumes(emptyDir("tmp-migrate"), emptyDir("tmp-proxy"), emptyDir("tmp-app")))},
		{name: "ephemeral update cannot add volumes: warn", tags: []string{tagEphemeral},
			in: tweak(running, func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{ephemeral(roCtr("debugger"))}
			}),
			existing: []corev1.EphemeralContainer{}, wantWarnings: 1},
		{name: "ephemeral update mounting the pod's /tmp", tags: []string{tagEphemeral, tagSet},
			in: tweak(running, func(p *corev1.Pod) {
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{ephemeral(roCtr("debugger", tmpMount("tmp")))}
			}),
			existing: []corev1.EphemeralContainer{}},
		{name: "windows pod: nothing", tags: []string{tagWindows},
			in: tweak(newPod(roCtr("app")), windowsPod)},
		{name: "windows by required node affinity: nothing", tags: []string{tagWindows},
			in: tweak(newPod(roCtr("app")), windowsByAffinity)},
	})
	runRuleCases(t, ruleTmpEmptyDir, cases)
}

func TestTmpVolumeName(t *testing.T) {
	long := strings.Repeat("x", 63)
	cases := []struct {
		container string
		taken     []string
	}{
		{"app", nil},
		{"app", []string{"tmp-app"}},
		{long, nil},
		{long, []string{tmpVolumeName(long, map[string]bool{})}},
		{"a", []string{"tmp-a", tmpVolumeName("a", map[string]bool{"tmp-a": true})}},
	}
	for _, tc := range cases {
		taken := map[string]bool{}
		for _, n := range tc.taken {
			taken[n] = true
		}
		got := tmpVolumeName(tc.container, taken)
		if taken[got] {
			t.Errorf("%q with %q taken: got a taken name %q", tc.container, tc.taken, got)
		}
		if len(got) > maxVolumeName || !strings.HasPrefix(got, "tmp-") {
			t.Errorf("%q: bad name %q", tc.container, got)
		}
		if again := tmpVolumeName(tc.container, taken); again != got {
			t.Errorf("%q: not deterministic: %q then %q", tc.container, got, again)
		}
	}
}
