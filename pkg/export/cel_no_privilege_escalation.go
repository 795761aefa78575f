package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// noPrivilegeEscalation is pkg/defaults/rule_no_privilege_escalation.go:
// allowPrivilegeEscalation: false on each container in scope that does not
// set it, is not privileged and adds neither SYS_ADMIN nor ALL.
var noPrivilegeEscalation = celRule{
	prefix: "npe",
	variables: func(map[string]bool) []admissionregistrationv1.Variable {
		return perKind("Npe", "variables.$VContainers.transformList(i, c, variables.npeActive && !variables.$VSkipped[i] && !"+
			sc("c", "allowPrivilegeEscalation")+".hasValue() && !"+privileged("c")+" && !"+adds("c", "SYS_ADMIN", "ALL")+")")
	},
	containerWants: "variables.$VNpe[i]",
	patches: func() []string {
		return forKinds("variables.$VContainers.transformList(i, c, variables.$VNpe[i], JSONPatch{op: 'add', path: " + containerPath + "/securityContext/allowPrivilegeEscalation', value: false})")
	},
	changed: anyKind("variables.$VNpe.exists(b, b)"),
}
