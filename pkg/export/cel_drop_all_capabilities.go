package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// dropAllCapabilities is pkg/defaults/rule_drop_all_capabilities.go: "ALL"
// appended to capabilities.drop of each container in scope that is not
// privileged, does not drop "ALL" already or add ALL, and does not need root
// (unless it drops ALL spelled otherwise). drop is an atomic list: only a
// JSON patch can append to it.
var dropAllCapabilities = celRule{
	prefix: "dac",
	variables: func(map[string]bool) []admissionregistrationv1.Variable {
		return perKind("Dac", "variables.$VContainers.transformList(i, c, variables.dacActive && !variables.$VSkipped[i] && !"+privileged("c")+
			" && !"+drops("c", true, "ALL")+" && !"+adds("c", "ALL")+" && !(variables.$VRoot[i] && !"+drops("c", false, "ALL")+"))")
	},
	containerWants: "variables.$VDac[i]",
	patches: func() []string {
		return forKinds("variables.$VContainers.transformList(i, c, variables.$VDac[i], " +
			"!" + sc("c", "capabilities") + ".hasValue() ? JSONPatch{op: 'add', path: " + containerPath + "/securityContext/capabilities', value: Object.spec.$K.securityContext.capabilities{drop: ['ALL']}} : " +
			"!" + sc("c", "capabilities.?drop") + ".hasValue() ? JSONPatch{op: 'add', path: " + containerPath + "/securityContext/capabilities/drop', value: ['ALL']} : " +
			"JSONPatch{op: 'add', path: " + containerPath + "/securityContext/capabilities/drop/-', value: 'ALL'})")
	},
	changed: anyKind("variables.$VDac.exists(b, b)"),
}
