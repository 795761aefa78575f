package export

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
)

// seccompRuntimeDefault is pkg/defaults/rule_seccomp_runtime_default.go:
// containers in scope without a profile get what their deprecated annotation
// says; the pod gets what the pod annotation says, or RuntimeDefault, unless
// it has a profile, the annotation is not a profile, a container is left
// alone or keeps an untranslatable annotation: then each other container in
// scope without a profile gets it instead.
//
// A profile travels in CEL as a string: "RuntimeDefault", "localhost/<p>",
// or "" for none ("!" for an annotation that names no profile).
var seccompRuntimeDefault = celRule{
	prefix: "sec",
	variables: func(map[string]bool) []admissionregistrationv1.Variable {
		containerKey := "(" + celString(corev1.SeccompContainerAnnotationKeyPrefix) + " + c.name)"
		vs := perKind("SecAnn", "variables.$VContainers.transformList(i, c, variables.secActive && !variables.$VSkipped[i] && !"+sc("c", "seccompProfile")+".hasValue() && "+
			"variables.annotations[?"+containerKey+"].hasValue() ? "+
			"("+translate("variables.annotations["+containerKey+"]")+" == '' ? '!' : "+translate("variables.annotations["+containerKey+"]")+") : '')")
		podKey := celString(corev1.SeccompPodAnnotationKey)
		vs = append(vs,
			variable("secKeeps", anyKind("variables.$VSecAnn.exists(p, p == '!')")),
			variable("secPodProfile", "variables.annotations[?"+podKey+"].hasValue() ? "+translate("variables.annotations["+podKey+"]")+" : 'RuntimeDefault'"),
			variable("secOn", "variables.secActive && !"+podSC("seccompProfile")+".hasValue() && variables.secPodProfile != ''"),
			variable("secPod", "variables.secOn && !variables.excluded && !variables.secKeeps"),
		)
		return append(vs, perKind("Sec", "variables.$VContainers.transformList(i, c, variables.$VSecAnn[i] == '!' ? '' : variables.$VSecAnn[i] != '' ? variables.$VSecAnn[i] : "+
			"variables.secOn && !variables.secPod && !variables.$VSkipped[i] && !"+sc("c", "seccompProfile")+".hasValue() ? variables.secPodProfile : '')")...)
	},
	podWants:       "variables.secPod",
	containerWants: "variables.$VSec[i] != ''",
	patches: func() []string {
		return append([]string{"(variables.secPod ? [JSONPatch{op: 'add', path: '/spec/securityContext/seccompProfile', value: " +
			profile("variables.secPodProfile", "Object.spec.securityContext.seccompProfile") + "}] : [])"},
			forKinds("variables.$VContainers.transformList(i, c, variables.$VSec[i] != '', JSONPatch{op: 'add', path: "+containerPath+"/securityContext/seccompProfile', value: "+
				profile("variables.$VSec[i]", "Object.spec.$K.securityContext.seccompProfile")+"})")...)
	},
	changed: "(variables.secPod || " + anyKind("variables.$VSec.exists(p, p != '')") + ")",
}

// translate is the profile a deprecated annotation value v names, as
// profileForAnnotation in pkg/defaults reads it: "" when none.
func translate(v string) string {
	prefix := corev1.SeccompLocalhostProfileNamePrefix
	name := fmt.Sprintf("%s.substring(%d)", v, len(prefix))
	return strings.NewReplacer("{v}", v, "{n}", name, "{p}", celString(prefix)).Replace(
		"(({v} == 'runtime/default' || {v} == 'docker/default') ? 'RuntimeDefault' : " +
			"({v}.startsWith({p}) && {n} != '' && !{n}.startsWith('/') && !('/' + {n} + '/').contains('/../')) ? {v} : '')")
}

// profile is the seccompProfile object of type typ for the profile string p.
func profile(p, typ string) string {
	return fmt.Sprintf("(%[1]s == 'RuntimeDefault' ? %[2]s{type: 'RuntimeDefault'} : %[2]s{type: 'Localhost', localhostProfile: %[1]s.substring(%[3]d)})",
		p, typ, len(corev1.SeccompLocalhostProfileNamePrefix))
}
