package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// readOnlyRootFilesystem is pkg/defaults/rule_read_only_root_filesystem.go:
// readOnlyRootFilesystem: true on each init and regular container in scope
// that does not set it. tmp-emptydir reads what it sets (see tmpEmptyDir).
var readOnlyRootFilesystem = celRule{
	prefix: "rofs",
	variables: func(map[string]bool) []admissionregistrationv1.Variable {
		return perKind("Rofs", "variables.$VContainers.transformList(i, c, variables.rofsActive && !variables.$VSkipped[i] && !"+
			sc("c", "readOnlyRootFilesystem")+".hasValue())")
	},
	containerWants: "variables.$VRofs[i]",
	patches: func() []string {
		return forKinds("variables.$VContainers.transformList(i, c, variables.$VRofs[i], JSONPatch{op: 'add', path: " + containerPath + "/securityContext/readOnlyRootFilesystem', value: true})")
	},
	changed: anyKind("variables.$VRofs.exists(b, b)"),
}
