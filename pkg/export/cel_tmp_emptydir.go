package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// tmpEmptyDir is pkg/defaults/rule_tmp_emptydir.go: an emptyDir volume
// mounted at /tmp in each container in scope whose root filesystem is
// read-only and that mounts nothing at /tmp.
//
// The volume is named "tmp-<container>" as the webhook names it, when that
// is at most 63 characters and no volume of the pod has the name. Otherwise
// (where the webhook uses a hash, which CEL cannot compute) it is
// "tmp-<i|c><index>-<k>": i for init containers, c for containers, the
// container's index in its list, and the smallest k for which the name is
// neither a volume of the pod nor "tmp-<name>" of any container. Names of
// that shape cannot collide with each other, and one of the first
// volumes+containers+1 values of k is free.
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
			variable("tmpTaken", "variables.tmpVolumes + variables.initContainers.map(c, 'tmp-' + c.name) + variables.ctrContainers.map(c, 'tmp-' + c.name)"),
			variable("tmpAny", anyKind("variables.$VTmp.exists(b, b)")),
		)
		return append(vs, perKind("TmpName", "variables.$VContainers.transformList(i, c, !variables.$VTmp[i] ? '' : "+
			"(size('tmp-' + c.name) <= 63 && !(('tmp-' + c.name) in variables.tmpVolumes)) ? 'tmp-' + c.name : "+
			"lists.range(variables.tmpTaken.size() + 1).map(k, 'tmp-$L' + string(i) + '-' + string(k)).filter(n, !(n in variables.tmpTaken))[0])")...)
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
