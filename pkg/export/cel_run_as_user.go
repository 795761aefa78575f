package export

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// runAsUser is pkg/defaults/rule_run_as_user.go: the configured runAsUser
// (and runAsGroup where unset) at pod level, unless the pod sets runAsUser;
// per container instead, on those in scope that neither need root nor set
// their own, when a container needs root or is left alone, or names its own
// runAsUser but no runAsGroup while the pod sets none.
func runAsUser(opts defaults.Options) celRule {
	uid, gid := opts.RunAsUser, opts.RunAsGroup
	if uid <= 0 {
		uid = defaults.DefaultRunAsUser
	}
	if gid <= 0 {
		gid = defaults.DefaultRunAsUser
	}
	return celRule{
		prefix: "rau",
		variables: func(map[string]bool) []admissionregistrationv1.Variable {
			vs := []admissionregistrationv1.Variable{
				variable("rauOn", "variables.rauActive && !"+podSC("runAsUser")+".hasValue()"),
				// Not at pod level while a container names its own user but
				// no group: the pod-level group would change its group.
				variable("rauPod", "variables.rauOn && !variables.excluded && !"+anyKind("variables.$VRoot.exists(b, b)")+
					" && ("+podSC("runAsGroup")+".hasValue() || !"+anyKind("variables.$VContainers.exists(c, "+sc("c", "runAsUser")+".hasValue() && !"+sc("c", "runAsGroup")+".hasValue())")+")"),
			}
			return append(vs, perKind("Rau", "variables.$VContainers.transformList(i, c, variables.rauOn && !variables.rauPod && !variables.$VSkipped[i] && !variables.$VRoot[i] && !"+
				sc("c", "runAsUser")+".hasValue())")...)
		},
		podWants:       "variables.rauPod",
		containerWants: "variables.$VRau[i]",
		patches: func() []string {
			out := []string{
				fmt.Sprintf("(variables.rauPod ? [JSONPatch{op: 'add', path: '/spec/securityContext/runAsUser', value: %d}] : [])", uid),
				fmt.Sprintf("(variables.rauPod && !%s.hasValue() ? [JSONPatch{op: 'add', path: '/spec/securityContext/runAsGroup', value: %d}] : [])", podSC("runAsGroup"), gid),
			}
			out = append(out, forKinds(fmt.Sprintf("variables.$VContainers.transformList(i, c, variables.$VRau[i], JSONPatch{op: 'add', path: "+containerPath+"/securityContext/runAsUser', value: %d})", uid))...)
			return append(out, forKinds(fmt.Sprintf("variables.$VContainers.transformList(i, c, variables.$VRau[i] && !%s.hasValue() && !%s.hasValue(), "+
				"JSONPatch{op: 'add', path: "+containerPath+"/securityContext/runAsGroup', value: %d})", sc("c", "runAsGroup"), podSC("runAsGroup"), gid))...)
		},
		changed: "(variables.rauPod || " + anyKind("variables.$VRau.exists(b, b)") + ")",
	}
}
