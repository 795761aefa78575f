package defaults

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

// fullPod has a container of every kind, each with a read-only root
// filesystem so tmp-emptydir concerns it too.
func fullPod() *corev1.Pod {
	ro := func(c corev1.Container) corev1.Container {
		return withSC(c, &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr(true)})
	}
	p := newPod(ro(ctr("app")), ro(ctr("other")))
	p.Spec.InitContainers = []corev1.Container{ro(ctr("init")), sidecar(ro(ctr("proxy")))}
	return p
}

// containerByName returns the container (of any kind) of p named name.
func containerByName(p *corev1.Pod, name string) (corev1.Container, bool) {
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == name {
			return c, true
		}
	}
	for _, e := range p.Spec.EphemeralContainers {
		if e.Name == name {
			return corev1.Container(e.EphemeralContainerCommon), true
		}
	}
	return corev1.Container{}, false
}

// TestSkipContainers leaves each container of each kind alone in turn, by
// annotation and by both kinds of pattern: that container is exactly as it
// was, no pod-level value reaches it, every other container is fully
// defaulted, and the warning and result name it.
func TestSkipContainers(t *testing.T) {
	for _, name := range []string{"init", "proxy", "app", "other"} {
		for _, how := range []struct {
			reason string
			opts   Options
			mod    func(*corev1.Pod)
		}{
			{SkipReasonAnnotation, Options{}, annotate(SkipContainersAnnotation, " "+name+" ,no-such-container")},
			{SkipReasonExcludeContainers, Options{ExcludeContainers: []string{"x*", name[:2] + "*"}}, nil},
			{SkipReasonExcludeImages, Options{ExcludeImages: []string{"registry.example/" + name + ":*"}}, nil},
		} {
			t.Run(name+"/"+how.reason, func(t *testing.T) {
				in := fullPod()
				if how.mod != nil {
					how.mod(in)
				}
				out, res := checkPassWith(t, in, nil, how.opts)
				before, _ := containerByName(in, name)
				after, _ := containerByName(out, name)
				if d := cmp.Diff(before, after); d != "" {
					t.Errorf("skipped container %q changed:\n%s", name, d)
				}
				if sc := out.Spec.SecurityContext; sc != nil && (sc.RunAsNonRoot != nil || sc.SeccompProfile != nil) {
					t.Errorf("pod-level values set while %q is skipped: %+v", name, sc)
				}
				for _, other := range []string{"init", "proxy", "app", "other"} {
					if other == name {
						continue
					}
					c, _ := containerByName(out, other)
					sc := c.SecurityContext
					if sc == nil || !isTrue(sc.RunAsNonRoot) || sc.SeccompProfile == nil || !isFalse(sc.AllowPrivilegeEscalation) ||
						sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || len(c.VolumeMounts) != 1 {
						t.Errorf("container %q not fully defaulted per container: %+v, mounts %v", other, sc, c.VolumeMounts)
					}
				}
				if d := cmp.Diff([]SkippedContainer{{Name: name, Reason: how.reason}}, res.SkippedContainers); d != "" {
					t.Errorf("SkippedContainers (-want +got):\n%s", d)
				}
				joined := strings.Join(res.Warnings, "\n")
				if !strings.Contains(joined, "containers left without secure defaults: \""+name+"\"") {
					t.Errorf("no warning names %q: %q", name, res.Warnings)
				}
				if how.reason == SkipReasonAnnotation && !strings.Contains(joined, `names no container of the pod: "no-such-container"`) {
					t.Errorf("no warning for the unknown container name: %q", res.Warnings)
				}
			})
		}
	}
}

func TestSkipEphemeralContainer(t *testing.T) {
	running := runningPod()
	in := tweak(running, withDebugger(nil), annotate(SkipContainersAnnotation, "debugger"))
	out, res := checkPass(t, in, running.Spec.EphemeralContainers)
	if d := cmp.Diff(in, out); d != "" {
		t.Errorf("skipped ephemeral container changed the pod:\n%s", d)
	}
	if len(res.SkippedContainers) != 1 || res.SkippedContainers[0].Name != "debugger" {
		t.Errorf("SkippedContainers = %v", res.SkippedContainers)
	}
	// Skipping a container that is not in this pass (the running "app") does
	// not count it, and the new debugger is defaulted.
	in = tweak(running, withDebugger(nil), annotate(SkipContainersAnnotation, "app"))
	out, res = checkPass(t, in, running.Spec.EphemeralContainers)
	if len(res.SkippedContainers) != 0 || !res.Changed() {
		t.Errorf("skipping a running container: skipped %v, applied %v", res.SkippedContainers, res.Applied)
	}
	if d := cmp.Diff(in.Spec.Containers, out.Spec.Containers); d != "" {
		t.Errorf("running containers changed:\n%s", d)
	}
}

func TestSkipRules(t *testing.T) {
	in := tweak(newPod(ctr("app")), annotate(SkipRulesAnnotation, "drop-all-capabilities, bogus,seccomp-runtime-default,"))
	out, res := checkPass(t, in, nil)
	if d := cmp.Diff([]string{"drop-all-capabilities", "seccomp-runtime-default"}, res.SkippedRules); d != "" {
		t.Errorf("SkippedRules (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"no-privilege-escalation", "run-as-non-root"}, res.Applied); d != "" {
		t.Errorf("Applied (-want +got):\n%s", d)
	}
	if sc := out.Spec.Containers[0].SecurityContext; sc.Capabilities != nil || out.Spec.SecurityContext.SeccompProfile != nil {
		t.Errorf("a skipped rule ran: %+v", out.Spec)
	}
	joined := strings.Join(res.Warnings, "\n")
	for _, w := range []string{`secure-defaults.dev/skip-rules names no rule "bogus"; the rules are run-as-non-root`, "rules skipped by the annotation secure-defaults.dev/skip-rules: drop-all-capabilities, seccomp-runtime-default"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings %q lack %q", res.Warnings, w)
		}
	}
	// A rule that is off anyway is not counted as skipped.
	_, res = checkPassWith(t, in, nil, Options{Rules: map[string]bool{"drop-all-capabilities": false}})
	if d := cmp.Diff([]string{"seccomp-runtime-default"}, res.SkippedRules); d != "" {
		t.Errorf("SkippedRules with drop-all off (-want +got):\n%s", d)
	}
}

func TestPodOptOutsIgnored(t *testing.T) {
	in := tweak(fullPod(), annotate(SkipRulesAnnotation, "drop-all-capabilities"), annotate(SkipContainersAnnotation, "app"), annotate(InjectKey, "disabled"))
	_, res := checkPassWith(t, in, nil, Options{IgnorePodOptOut: true})
	if res.OptedOut || len(res.SkippedRules) != 0 || len(res.SkippedContainers) != 0 {
		t.Errorf("opt-outs honoured: %+v", res)
	}
	if len(res.Applied) != 5 {
		t.Errorf("applied %v, want every rule", res.Applied)
	}
	n := 0
	for _, w := range res.Warnings {
		if strings.Contains(w, "was ignored: this cluster does not allow pods to opt out") {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d ignored-opt-out warnings, want 3: %q", n, res.Warnings)
	}
	// Configured exclusions still hold: they are the cluster's, not the pod's.
	_, res = checkPassWith(t, in, nil, Options{IgnorePodOptOut: true, ExcludeContainers: []string{"app"}})
	if len(res.SkippedContainers) != 1 || res.SkippedContainers[0].Reason != SkipReasonExcludeContainers {
		t.Errorf("excludeContainers under IgnorePodOptOut: %v", res.SkippedContainers)
	}
}

func TestWarningsBoundEchoedValues(t *testing.T) {
	long := strings.Repeat("x", 10_000)
	names := make([]string, 50)
	for i := range names {
		names[i] = long
	}
	in := tweak(newPod(ctr("app")), annotate(SkipRulesAnnotation, strings.Join(names, ",")), annotate(SkipContainersAnnotation, strings.Join(names, ",")))
	_, res := checkPass(t, in, nil)
	for _, w := range res.Warnings {
		if len(w) > 2000 {
			t.Errorf("warning of %d bytes echoes the annotation", len(w))
		}
	}
}

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"registry.example/legacy/*", "registry.example/legacy/app:1", true},
		{"registry.example/legacy/*", "registry.example/legacy/team/app:1", true},
		{"registry.example/legacy/*", "registry.example/other/app:1", false},
		{"*/app:?", "r/app:1", true},
		{"*/app:?", "r/app:10", false},
		{"istio-*", "istio-init", true},
		{"istio-*", "my-istio-init", false},
		{"app", "app", true},
		{"app", "apps", false},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
	}
	for _, c := range cases {
		if got := match(c.pattern, c.s); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func BenchmarkMatchWorstCase(b *testing.B) {
	pattern := strings.Repeat("*a", 256) + "b"
	s := strings.Repeat("a", 4096)
	for b.Loop() {
		match(pattern, s)
	}
}
