package export

import (
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// fsGroup is pkg/defaults/rule_fs_group.go: the configured fsGroup, and
// fsGroupChangePolicy: OnRootMismatch where unset, at pod level, unless the
// pod sets fsGroup or a container is left alone.
func fsGroup(opts defaults.Options) celRule {
	gid := opts.FSGroup
	if gid <= 0 {
		gid = defaults.DefaultFSGroup
	}
	return celRule{
		prefix: "fsg",
		variables: func(map[string]bool) []admissionregistrationv1.Variable {
			return []admissionregistrationv1.Variable{
				variable("fsgPod", "variables.fsgActive && !variables.excluded && !"+podSC("fsGroup")+".hasValue()"),
			}
		},
		podWants: "variables.fsgPod",
		patches: func() []string {
			return []string{fmt.Sprintf("(variables.fsgPod ? [JSONPatch{op: 'add', path: '/spec/securityContext/fsGroup', value: %d}] : [])", gid),
				fmt.Sprintf("(variables.fsgPod && !%s.hasValue() ? [JSONPatch{op: 'add', path: '/spec/securityContext/fsGroupChangePolicy', value: %s}] : [])",
					podSC("fsGroupChangePolicy"), celString(string(corev1.FSGroupChangeOnRootMismatch)))}
		},
		changed: "variables.fsgPod",
	}
}
