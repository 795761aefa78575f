package export

import admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

// serviceAccountTokenPath is where the kubelet mounts the pod's API token.
const serviceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// noServiceAccountToken is pkg/defaults/rule_no_service_account_token.go:
// automountServiceAccountToken: false, unless the pod sets it, has a
// projected serviceAccountToken volume, a container mounts something at the
// token's path, or a container is left alone. Windows pods get it too.
var noServiceAccountToken = celRule{
	prefix: "nsat",
	variables: func(map[string]bool) []admissionregistrationv1.Variable {
		mounts := "variables.$VContainers.exists(c, c.?volumeMounts.orValue([]).exists(m, m.?mountPath.orValue('').matches(" + celString(cleanPathRegexp(serviceAccountTokenPath)) + ")))"
		return []admissionregistrationv1.Variable{
			variable("nsatPod", "variables.nsatActive && !variables.excluded && !object.spec.?automountServiceAccountToken.hasValue() && "+
				"!object.spec.?volumes.orValue([]).exists(v, v.?projected.?sources.orValue([]).exists(src, src.?serviceAccountToken.hasValue())) && "+
				"!"+anyKind(mounts)),
		}
	},
	patches: func() []string {
		return []string{"(variables.nsatPod ? [JSONPatch{op: 'add', path: '/spec/automountServiceAccountToken', value: false}] : [])"}
	},
	changed: "variables.nsatPod",
}
