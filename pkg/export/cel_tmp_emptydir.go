package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// tmpEmptyDir is pkg/defaults/rule_tmp_emptydir.go: an emptyDir volume
// mounted at /tmp in each container in scope whose root filesystem is
// read-only and that mounts nothing at /tmp.
//
// The volume is named "tmp-<container>" as the webhook names it, when that
// is at most 63 characters and no volume of the pod has the name. Otherwise
// (where the webhook uses a hash, which CEL cannot compute) it is
// "tmp--<i|c><index>": i for init containers, c for containers, and the
// container's index in its list. The double hyphen keeps it apart from every
// "tmp-<container>" (container names start with a letter or digit), and the
// kind and index from every other container's, so one look at the pod's
// volumes settles it. Only when the pod itself has a volume of that name is
// it "tmp--<i|c><index>-<k>", the smallest k no volume has.
//
// Cost: a look-up in a map of the pod's volumes per container, and the
// search for k only over the volumes the pod itself named
// "tmp--<i|c><index>..." (none in practice): a pod whose every
// "tmp-<container>" is taken stays within the API server's CEL cost limits
// as far as one with free names does. (A list look-up per container costs
// containers × volumes: 500 init containers and 500 containers whose
// "tmp-<name>" volumes the pod has went past the limits.) Building the map
// fails on a repeated volume name, so such a pod, invalid and rejected by
// the API server's validation anyway, is rejected by the policy instead.
var tmpEmptyDir = celRule{
	prefix: "tmp",
	variables: func(on map[string]bool) []admissionregistrationv1.Variable {
		readOnly := sc("c", "readOnlyRootFilesystem") + ".orValue(false)"
		if on["read-only-root-filesystem"] {
			// That rule runs first in the webhook: read what it sets.
			readOnly = "(" + readOnly + " || variables.$VRofs[i])"
		}
		vs := perKind("Tmp", "variables.$VContainers.transformList(i, c, variables.tmpActive && !variables.$VSkipped[i] && "+readOnly+" && "+
			"!c.?volumeMounts.orValue([]).exists(m, m.?mountPath.orValue('').matches("+celString(tmpMountRegexp)+")) && "+
			"!c.?volumeDevices.orValue([]).exists(d, d.?devicePath.orValue('').matches("+celString(tmpMountRegexp)+")))")
		vs = append(vs,
			variable("tmpVolumes", "object.spec.?volumes.orValue([]).map(v, v.name)"),
			// The volumes whose names a fallback could have: none unless
			// the pod named some so.
			variable("tmpOwnFallbacks", "variables.tmpVolumes.filter(n, n.startsWith('tmp--'))"),
			variable("tmpAny", anyKind("variables.$VTmp.exists(b, b)")),
			variable("tmpVolumeSet", "variables.tmpVolumes.transformMapEntry(i, n, {n: true})"),
		)
		vs = append(vs, perKind("TmpTaken", "variables.$VContainers.transformList(i, c, variables.tmpOwnFallbacks.filter(n, n == 'tmp--$L' + string(i) || n.startsWith('tmp--$L' + string(i) + '-')))")...)
		return append(vs, perKind("TmpName", "variables.$VContainers.transformList(i, c, !variables.$VTmp[i] ? '' : "+
			"(size('tmp-' + c.name) <= 63 && !(('tmp-' + c.name) in variables.tmpVolumeSet)) ? 'tmp-' + c.name : "+
			"variables.$VTmpTaken[i].size() == 0 ? 'tmp--$L' + string(i) : "+
			"lists.range(variables.$VTmpTaken[i].size() + 1).map(k, k == 0 ? 'tmp--$L' + string(i) : 'tmp--$L' + string(i) + '-' + string(k - 1)).filter(n, !(n in variables.$VTmpTaken[i]))[0])")...)
	},
	patches: func() []string {
		out := []string{"(variables.tmpAny && !object.spec.?volumes.hasValue() ? [JSONPatch{op: 'add', path: '/spec/volumes', value: []}] : [])"}
		out = append(out, forKinds("variables.$VContainers.transformList(i, c, variables.$VTmp[i], "+
			"JSONPatch{op: 'add', path: '/spec/volumes/-', value: Object.spec.volumes{name: variables.$VTmpName[i], emptyDir: Object.spec.volumes.emptyDir{}}})")...)
		return append(out, forKinds("variables.$VContainers.transformList(i, c, variables.$VTmp[i], c.?volumeMounts.hasValue() ? "+
			"JSONPatch{op: 'add', path: "+containerPath+"/volumeMounts/-', value: Object.spec.$K.volumeMounts{name: variables.$VTmpName[i], mountPath: '/tmp'}} : "+
			"JSONPatch{op: 'add', path: "+containerPath+"/volumeMounts', value: [Object.spec.$K.volumeMounts{name: variables.$VTmpName[i], mountPath: '/tmp'}]})")...)
	},
	changed: "variables.tmpAny",
}
