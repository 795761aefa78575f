package defaults

import (
	"fmt"
	"hash/fnv"
	"path"

	corev1 "k8s.io/api/core/v1"
)

// tmpPath is where programs expect a writable scratch directory.
const tmpPath = "/tmp"

// ruleTmpEmptyDir gives a container whose root filesystem is read-only a
// writable /tmp, so hardening the root filesystem does not break programs
// that write temporary files.
//
// Sets: for every container with readOnlyRootFilesystem: true, one new
// emptyDir volume (one per container: containers never shared a /tmp before)
// appended to spec.volumes, and a mount of it at /tmp appended to the
// container's volumeMounts. Volume names are DNS-1123 labels of at most 63
// characters, derived from the container's name only (deterministic), and
// never equal to a name already in the pod.
//
// Stays away when:
//   - the container's root filesystem is not read-only;
//   - the container already mounts something (a volume or a block device) at /tmp;
//   - the pod is a Windows pod (read-only root filesystems are Linux-only);
//   - the change is to the ephemeralcontainers subresource, which cannot add
//     volumes to a running pod; a warning says so.
var ruleTmpEmptyDir = Rule{
	ID:      "tmp-emptydir",
	Summary: "an emptyDir mounted at /tmp in every container whose root filesystem is read-only",
	Writes:  []string{"/spec/volumes", "/spec/initContainers/*/volumeMounts", "/spec/containers/*/volumeMounts"},
	apply:   applyTmpEmptyDir,
}

func applyTmpEmptyDir(pod *corev1.Pod, s *scope) (bool, []string) {
	if s.windows {
		return false, nil
	}
	var warnings []string
	var taken map[string]bool
	changed := false
	for c := range s.each(s.containers) {
		if sc := c.get(); sc == nil || !isTrue(sc.ReadOnlyRootFilesystem) || mountsTmp(c) {
			continue
		}
		if s.ephemeralOnly {
			warnings = append(warnings, fmt.Sprintf(
				"%s %q has a read-only root filesystem and no /tmp; a running pod cannot get a new volume, so none was added",
				c.kind.singular(), c.name))
			continue
		}
		if taken == nil {
			taken = make(map[string]bool, len(pod.Spec.Volumes)+1)
			for v := range s.eachVolume(pod.Spec.Volumes) {
				taken[v.Name] = true
			}
			if s.interrupted() != nil {
				// taken is incomplete: a name from it could clash.
				return changed, warnings
			}
		}
		name := tmpVolumeName(c.name, taken)
		taken[name] = true
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name:         name,
			VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}},
		})
		*c.volumeMounts = append(*c.volumeMounts, corev1.VolumeMount{Name: name, MountPath: tmpPath})
		changed = true
	}
	return changed, warnings
}

// mountsTmp reports whether c already has something at /tmp.
func mountsTmp(c container) bool {
	for _, m := range *c.volumeMounts {
		if m.MountPath != "" && path.Clean(m.MountPath) == tmpPath {
			return true
		}
	}
	for _, d := range c.volumeDevices {
		if d.DevicePath != "" && path.Clean(d.DevicePath) == tmpPath {
			return true
		}
	}
	return false
}

// maxVolumeName is the longest volume name the API server accepts (a DNS-1123 label).
const maxVolumeName = 63

// tmpVolumeName picks the volume name for container's /tmp: "tmp-<container>"
// when that is free and short enough, otherwise a prefix of it followed by a
// hash of the container name and an attempt counter, until one is free.
// Container names are DNS-1123 labels, so every candidate is one too.
func tmpVolumeName(containerName string, taken map[string]bool) string {
	name := "tmp-" + containerName
	if len(name) <= maxVolumeName && !taken[name] {
		return name
	}
	for attempt := 0; ; attempt++ {
		h := fnv.New32a()
		fmt.Fprintf(h, "%s/%d", containerName, attempt)
		suffix := fmt.Sprintf("-%08x", h.Sum32())
		prefix := name
		if len(prefix) > maxVolumeName-len(suffix) {
			prefix = prefix[:maxVolumeName-len(suffix)]
		}
		if candidate := prefix + suffix; !taken[candidate] {
			return candidate
		}
	}
}
