package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// runAsNonRoot is pkg/defaults/rule_run_as_non_root.go: runAsNonRoot: true at
// pod level when no container needs root and no container is left alone,
// else on each container in scope that neither needs root nor sets its own;
// nothing when the pod sets it, is a HostProcess pod or sets hostUsers: false.
var runAsNonRoot = celRule{
	prefix: "rnr",
	variables: func(map[string]bool) []admissionregistrationv1.Variable {
		vs := []admissionregistrationv1.Variable{
			variable("rnrOn", "variables.rnrActive && !variables.hostProcess && object.spec.?hostUsers.orValue(true) && !"+podSC("runAsNonRoot")+".hasValue()"),
			variable("rnrPod", "variables.rnrOn && !variables.excluded && !"+
				anyKind("variables.$VContainers.transformList(i, c, variables.$VRoot[i] && !"+sc("c", "runAsNonRoot")+".hasValue()).exists(b, b)")),
		}
		return append(vs, perKind("Rnr", "variables.$VContainers.transformList(i, c, variables.rnrOn && !variables.rnrPod && !variables.$VSkipped[i] && !"+
			sc("c", "runAsNonRoot")+".hasValue() && !variables.$VRoot[i])")...)
	},
	podWants:       "variables.rnrPod",
	containerWants: "variables.$VRnr[i]",
	patches: func() []string {
		return append([]string{"(variables.rnrPod ? [JSONPatch{op: 'add', path: '/spec/securityContext/runAsNonRoot', value: true}] : [])"},
			forKinds("variables.$VContainers.transformList(i, c, variables.$VRnr[i], JSONPatch{op: 'add', path: "+containerPath+"/securityContext/runAsNonRoot', value: true})")...)
	},
	changed: "(variables.rnrPod || " + anyKind("variables.$VRnr.exists(b, b)") + ")",
}
