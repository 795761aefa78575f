package export

import (
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// DefaultName names the policy and its binding unless told otherwise.
const DefaultName = "secure-defaults"

// Policy is what the export command prints: the policy and the binding that
// applies it to the namespaces that opt in.
type Policy struct {
	Policy  *admissionregistrationv1.MutatingAdmissionPolicy
	Binding *admissionregistrationv1.MutatingAdmissionPolicyBinding
}

// celRule is the CEL form of one rule of package defaults.
type celRule struct {
	// variables come after the shared ones and those of the rules before it;
	// they may read "variables.<prefix>Active". on holds the IDs of the rules
	// in the policy.
	variables func(on map[string]bool) []admissionregistrationv1.Variable
	// patches are CEL expressions of type list(JSONPatch), in the order they apply.
	patches func() []string
	// changed is a CEL bool: the rule changes the pod.
	changed string
	// podWants is a CEL bool: the rule adds a field to the pod's
	// securityContext ("" when it never does); containerWants the same, with
	// $V and i, for container i's securityContext.
	podWants, containerWants string
	// prefix of its variables (e.g. "rnr").
	prefix string
}

// celRules maps each rule ID of package defaults to its CEL form. A test
// fails when a registered rule is missing here.
var celRules = map[string]celRule{
	"run-as-non-root":           runAsNonRoot,
	"drop-all-capabilities":     dropAllCapabilities,
	"seccomp-runtime-default":   seccompRuntimeDefault,
	"no-privilege-escalation":   noPrivilegeEscalation,
	"read-only-root-filesystem": readOnlyRootFilesystem,
	"tmp-emptydir":              tmpEmptyDir,
	"no-service-account-token":  noServiceAccountToken,
}

// configuredRules are the CEL forms of rules that take settings from the
// configuration.
var configuredRules = map[string]func(defaults.Options) celRule{
	"fs-group":    fsGroup,
	"run-as-user": runAsUser,
}

// notInCEL names the rules the policy does not implement yet, with why (none
// today); a rule on by default may not be listed, so the shipped
// configuration's policy is always complete. A
// configuration that switches one on cannot be exported: Build says so
// rather than print a policy that silently does less than the webhook.
var notInCEL = map[string]string{}

// windowsOnly names the rules that stay away from Windows pods.
var windowsOnly = map[string]bool{
	"drop-all-capabilities":     true,
	"seccomp-runtime-default":   true,
	"no-privilege-escalation":   true,
	"read-only-root-filesystem": true,
	"tmp-emptydir":              true,
	"fs-group":                  true,
	"run-as-user":               true,
}

// Build returns the policy and binding named name implementing, under cfg (a
// defaulted, valid configuration), every rule cfg switches on.
func Build(cfg *config.Configuration, name string) (*Policy, error) {
	if name == "" {
		name = DefaultName
	}
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return nil, fmt.Errorf("policy name %q: %s", name, strings.Join(msgs, "; "))
	}
	opts := cfg.Options()
	vars := sharedVariables(opts)
	on := map[string]bool{}
	for _, id := range defaults.RuleIDs() {
		on[id] = opts.Enabled(id)
	}
	var patches []string
	var applied []string // pairs of CEL: ID, changed
	var ids []string
	var podWants, containerWants []string
	for _, r := range defaults.Rules() {
		if !opts.Enabled(r.ID) {
			continue
		}
		cr, ok := celRules[r.ID]
		if build, configured := configuredRules[r.ID]; configured {
			cr, ok = build(opts), true
		}
		if !ok {
			why := notInCEL[r.ID]
			if why == "" {
				why = "it has no CEL form"
			}
			return nil, fmt.Errorf("rule %s is switched on but the policy cannot implement it (%s): switch it off in the configuration, or use the webhook", r.ID, why)
		}
		active := fmt.Sprintf("!(%s in variables.skipRules)", celString(r.ID))
		if windowsOnly[r.ID] {
			active += " && !variables.windows"
		}
		vars = append(vars, variable(cr.prefix+"Active", active))
		vars = append(vars, cr.variables(on)...)
		patches = append(patches, cr.patches()...)
		if cr.podWants != "" {
			podWants = append(podWants, cr.podWants)
		}
		if cr.containerWants != "" {
			containerWants = append(containerWants, cr.containerWants)
		}
		ids = append(ids, r.ID)
		applied = append(applied, cr.changed)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("the configuration switches every rule off: there is nothing to export")
	}
	vars = append(vars, variable("applied", fmt.Sprintf("%s.transformList(i, id, %s[i], id)", celStrings(ids), "["+strings.Join(applied, ", ")+"]")))
	vars = append(vars, variable("defaulted", defaultedValue))
	// Parents first: one rule's "add securityContext: {}" must not wipe
	// another's field.
	var parents []string
	if len(podWants) > 0 {
		parents = append(parents, "(("+strings.Join(podWants, " || ")+") && !object.spec.?securityContext.hasValue() ? "+
			"[JSONPatch{op: 'add', path: '/spec/securityContext', value: Object.spec.securityContext{}}] : [])")
	}
	if len(containerWants) > 0 {
		parents = append(parents, ensureContainerSC(containerWants)...)
	}
	patches = append(append(parents, patches...), defaultedAnnotation)

	expr := "variables.applied.size() == 0 ? [] : [\n  " + strings.Join(patches, ",\n  ") + "\n].flatten()"
	failure := admissionregistrationv1.Fail
	p := &admissionregistrationv1.MutatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "secure-defaults"}},
		Spec: admissionregistrationv1.MutatingAdmissionPolicySpec{
			MatchConstraints: &admissionregistrationv1.MatchResources{
				ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
					RuleWithOperations: admissionregistrationv1.RuleWithOperations{
						Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
						Rule: admissionregistrationv1.Rule{
							APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
						},
					},
				}},
			},
			Variables: vars,
			Mutations: []admissionregistrationv1.Mutation{{
				PatchType: admissionregistrationv1.PatchTypeJSONPatch,
				JSONPatch: &admissionregistrationv1.JSONPatch{Expression: expr},
			}},
			FailurePolicy:      &failure,
			ReinvocationPolicy: admissionregistrationv1.IfNeededReinvocationPolicy,
		},
	}
	if !opts.IgnorePodOptOut {
		p.Spec.MatchConditions = []admissionregistrationv1.MatchCondition{{
			Name: "not-opted-out",
			Expression: fmt.Sprintf("object.metadata.?annotations[?%s].orValue('').trim().lowerAscii() != %s",
				celString(defaults.InjectKey), celString(defaults.InjectDisabled)),
		}}
	}
	b := &admissionregistrationv1.MutatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: admissionregistrationv1.SchemeGroupVersion.String(), Kind: "MutatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "secure-defaults"}},
		Spec: admissionregistrationv1.MutatingAdmissionPolicyBindingSpec{
			PolicyName: name,
			MatchResources: &admissionregistrationv1.MatchResources{
				NamespaceSelector: &metav1.LabelSelector{
					MatchLabels:      map[string]string{defaults.InjectKey: defaults.InjectEnabled},
					MatchExpressions: []metav1.LabelSelectorRequirement{systemNamespaces},
				},
			},
		},
	}
	return &Policy{Policy: p, Binding: b}, nil
}

// systemNamespaces keeps the binding away from the namespaces the webhook
// never serves however they are labelled: kube-system and kube-node-lease,
// whose pods keep the cluster running. The API server alone sets the
// kubernetes.io/metadata.name label, so no one can opt these in. The
// webhook also leaves out its own namespace, so it never blocks the
// creation of its own replicas; the policy has no replicas, and that
// namespace is wherever the webhook was installed, so it is not listed.
var systemNamespaces = metav1.LabelSelectorRequirement{
	Key:      corev1.LabelMetadataName,
	Operator: metav1.LabelSelectorOpNotIn,
	Values:   []string{metav1.NamespaceSystem, corev1.NamespaceNodeLease},
}

func variable(name, expr string) admissionregistrationv1.Variable {
	return admissionregistrationv1.Variable{Name: name, Expression: expr}
}

// sharedVariables is the scope of the pass (pkg/defaults/scope.go) and the
// "needs root" decision of each container.
func sharedVariables(opts defaults.Options) []admissionregistrationv1.Variable {
	skipList := func(key string) string {
		if opts.IgnorePodOptOut {
			return "['']" // the annotations do not count; no rule ID or container name is empty
		}
		return fmt.Sprintf("variables.annotations[?%s].orValue('').split(',').map(s, s.trim())", celString(key))
	}
	vs := []admissionregistrationv1.Variable{
		variable("annotations", "object.metadata.?annotations.orValue({})"),
		variable("skipRules", skipList(defaults.SkipRulesAnnotation)),
		variable("skipContainers", skipList(defaults.SkipContainersAnnotation)),
		variable("initContainers", "object.spec.?initContainers.orValue([])"),
		variable("ctrContainers", "object.spec.containers"),
	}
	for _, k := range kinds {
		skipped := "c.name in variables.skipContainers"
		if len(opts.ExcludeContainers) > 0 {
			skipped += fmt.Sprintf(" || c.name.matches(%s)", celString(globRegexp(opts.ExcludeContainers)))
		}
		if len(opts.ExcludeImages) > 0 {
			skipped += fmt.Sprintf(" || c.?image.orValue('').matches(%s)", celString(globRegexp(opts.ExcludeImages)))
		}
		vs = append(vs,
			variable(k.v+"Skipped", k.expand("variables.$VContainers.map(c, "+skipped+")")),
			variable(k.v+"Root", k.expand("variables.$VContainers.map(c, "+needsRoot("c")+")")),
		)
	}
	hostProcess := func(c string) string { return sc(c, "windowsOptions.?hostProcess") + ".orValue(false)" }
	terms := "object.spec.?affinity.?nodeAffinity.?requiredDuringSchedulingIgnoredDuringExecution.?nodeSelectorTerms.orValue([])"
	vs = append(vs,
		variable("excluded", "variables.initSkipped.exists(b, b) || variables.ctrSkipped.exists(b, b)"),
		variable("hostProcess", fmt.Sprintf("%s.orValue(false) || variables.initContainers.exists(c, %s) || variables.ctrContainers.exists(c, %s) || object.spec.?ephemeralContainers.orValue([]).exists(c, %s)",
			podSC("windowsOptions.?hostProcess"), hostProcess("c"), hostProcess("c"), hostProcess("c"))),
		variable("windows", fmt.Sprintf("variables.hostProcess || (object.spec.?os.hasValue() ? object.spec.?os.?name.orValue('').lowerAscii() == 'windows' : "+
			"(object.spec.?nodeSelector[?'kubernetes.io/os'].orValue('').lowerAscii() == 'windows' || "+
			"(%[1]s.size() > 0 && %[1]s.all(t, t.?matchExpressions.orValue([]).exists(e, e.key == 'kubernetes.io/os' && e.operator == 'In' && "+
			"e.?values.orValue([]).size() > 0 && e.?values.orValue([]).all(v, v.lowerAscii() == 'windows'))))))", terms)),
	)
	return vs
}

// forKinds expands a per-container template for each kind of container.
func forKinds(tmpl string) []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.expand(tmpl)
	}
	return out
}

// perKind expands a template for each kind into variables named
// <prefix of kind><suffix>.
func perKind(suffix, tmpl string) []admissionregistrationv1.Variable {
	var out []admissionregistrationv1.Variable
	for _, k := range kinds {
		out = append(out, variable(k.v+suffix, k.expand(tmpl)))
	}
	return out
}

// anyKind is a CEL bool: expr (with $V) holds for some container of any kind.
func anyKind(tmpl string) string { return "(" + strings.Join(forKinds(tmpl), " || ") + ")" }

// containerPath is the JSON pointer of container i of the list, in CEL.
const containerPath = "'/spec/$K/' + string(i) + '"

// ensureContainerSC adds an empty securityContext to every container that a
// rule writes into and has none, before any field is added.
func ensureContainerSC(wants []string) []string {
	return forKinds("variables.$VContainers.transformList(i, c, !c.?securityContext.hasValue() && (" + strings.Join(wants, " || ") +
		"), JSONPatch{op: 'add', path: " + containerPath + "/securityContext', value: Object.spec.$K.securityContext{}})")
}

// defaultedAnnotation merges the IDs of the rules that changed the pod into
// the defaulted annotation, sorted and without duplicates.
var defaultedAnnotation = fmt.Sprintf(`object.metadata.?annotations.hasValue() ?
    [JSONPatch{op: 'add', path: '/metadata/annotations/' + jsonpatch.escapeKey(%[1]s), value: variables.defaulted}] :
    [JSONPatch{op: 'add', path: '/metadata/annotations', value: {%[1]s: variables.defaulted}}]`, celString(defaults.DefaultedAnnotation))

// defaultedValue is the annotation's new value: its old IDs and those of the
// rules that changed the pod, sorted and without duplicates.
var defaultedValue = fmt.Sprintf("(variables.annotations[?%s].orValue('').split(',').map(s, s.trim()).filter(s, s != '') + variables.applied).distinct().sort().join(',')",
	celString(defaults.DefaultedAnnotation))
