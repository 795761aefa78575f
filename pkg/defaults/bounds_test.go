package defaults

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// readOnly is a container whose root filesystem is read-only, so every rule
// (tmp-emptydir included) has work to do on it.
func readOnly(name string) corev1.Container {
	t := true
	return withSC(ctr(name), &corev1.SecurityContext{ReadOnlyRootFilesystem: &t})
}

func manyContainers(n int, name func(i int) string) *corev1.Pod {
	cs := make([]corev1.Container, n)
	for i := range cs {
		cs[i] = readOnly(name(i))
	}
	return newPod(cs...)
}

// TestRepeatedContainerNames: a pod whose containers share a name (across
// init, regular and ephemeral containers) is left unchanged with a warning
// that names the repeated name, whatever its size.
func TestRepeatedContainerNames(t *testing.T) {
	cases := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"two regular", newPod(ctr("app"), ctr("app")), `"app"`},
		{"init and regular", tweak(newPod(ctr("app")), func(p *corev1.Pod) { p.Spec.InitContainers = []corev1.Container{ctr("app")} }), `"app"`},
		{"regular and ephemeral", tweak(newPod(ctr("app")), func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{ephemeral(ctr("app"))}
		}), `"app"`},
		{"10,000 alike", manyContainers(10000, func(int) string { return "c" }), `"c"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := c.pod.DeepCopy()
			res := Apply(c.pod, Options{})
			if res.Changed() || res.Err != nil {
				t.Errorf("Apply changed %v, err %v; want the pod left alone", res.Applied, res.Err)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], c.want) {
				t.Errorf("warnings %q, want one naming %s", res.Warnings, c.want)
			}
			if len(c.pod.Spec.Volumes) != len(before.Spec.Volumes) || c.pod.Annotations[DefaultedAnnotation] != "" {
				t.Error("the pod was changed")
			}
		})
	}
	// The ephemeralcontainers subresource: a new debugger that reuses a name.
	pod := tweak(runningPod(), func(p *corev1.Pod) {
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, ephemeral(ctr(p.Spec.Containers[0].Name)))
	})
	if res := ApplyEphemeral(pod, nil, Options{}); res.Changed() || len(res.Warnings) != 1 {
		t.Errorf("ApplyEphemeral with a repeated name: applied %v, warnings %q", res.Applied, res.Warnings)
	}
}

// countdown is a context that turns done after a number of Err calls, so
// a test can stop a pass at a chosen point without timing anything.
type countdown struct {
	context.Context
	left  atomic.Int64
	calls atomic.Int64
}

func newCountdown(n int64) *countdown {
	c := &countdown{Context: context.Background()}
	c.left.Store(n)
	return c
}

func (c *countdown) Err() error {
	c.calls.Add(1)
	if c.left.Add(-1) < 0 {
		return context.DeadlineExceeded
	}
	return nil
}

func (c *countdown) Deadline() (time.Time, bool) { return time.Time{}, false }

// TestDeadlineInsideTheRules: a context that ends while a rule walks the
// containers stops the walk there, and the pass reports the interruption;
// one already done stops the pass before the first rule.
func TestDeadlineInsideTheRules(t *testing.T) {
	const n = 1000
	pod := manyContainers(n, func(i int) string { return fmt.Sprintf("c%d", i) })

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if res := Apply(pod.DeepCopy(), Options{Context: done}); res.Err == nil || res.Changed() {
		t.Errorf("with a done context: err %v, applied %v; want an error and nothing applied", res.Err, res.Applied)
	}

	// One rule only, ended after 10 checks: the walk stops within the
	// containers, not after them.
	only := map[string]bool{}
	for _, id := range RuleIDs() {
		only[id] = id == ruleNoPrivilegeEscalation.ID
	}
	ctx := newCountdown(10)
	p := pod.DeepCopy()
	res := Apply(p, Options{Rules: only, Context: ctx})
	if res.Err == nil {
		t.Fatal("Apply finished although its context ended inside the rule")
	}
	defaulted := 0
	for _, c := range p.Spec.Containers {
		if c.SecurityContext.AllowPrivilegeEscalation != nil {
			defaulted++
		}
	}
	if defaulted == 0 || defaulted >= n {
		t.Errorf("%d of %d containers defaulted before the deadline, want the walk cut short inside the rule", defaulted, n)
	}

	// With time to spare, the context is checked about once per container
	// per rule, never per pair of containers.
	ctx = newCountdown(1 << 40)
	if res := Apply(pod.DeepCopy(), Options{Context: ctx}); res.Err != nil || !res.Changed() {
		t.Fatalf("Apply with time to spare: %v", res.Err)
	}
	if calls, most := ctx.calls.Load(), int64(len(registry)*(4*n+2)+2); calls > most {
		t.Errorf("context checked %d times for %d containers, want at most %d", calls, n, most)
	}
}

// TestDeadlineInsideEveryLoop: every loop a rule runs over the pod's
// containers or volumes, optional rules' included, stops where the context
// ends rather than after it, and the pass reports the interruption. Each
// case turns on one rule and ends the context halfway through the loop under
// test: after the checks that come before it (one for each registry entry up
// to the rule's own, and those of the rule's earlier loops).
func TestDeadlineInsideEveryLoop(t *testing.T) {
	const n = 1000
	name := func(i int) string { return fmt.Sprintf("c%d", i) }
	plain := func(fns ...func(*corev1.Pod)) *corev1.Pod {
		cs := make([]corev1.Container, n)
		for i := range cs {
			cs[i] = ctr(name(i))
		}
		return tweak(newPod(cs...), fns...)
	}
	volumes := func(p *corev1.Pod) {
		for i := range n {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: fmt.Sprintf("v%d", i), VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}
	}
	pins := map[string]Pin{}
	for i := range n {
		pins[name(i)] = Pin{UID: 1000}
	}
	// partly says what is wrong unless some but not all of total were done.
	partly := func(done, total int) string {
		if done == 0 || done >= total {
			return fmt.Sprintf("%d of %d containers changed, want the walk cut short inside the loop", done, total)
		}
		return ""
	}
	users := func(p *corev1.Pod, uid int64) int {
		k := 0
		for _, c := range p.Spec.Containers {
			if c.SecurityContext != nil && c.SecurityContext.RunAsUser != nil && *c.SecurityContext.RunAsUser == uid {
				k++
			}
		}
		return k
	}
	noToken := func(p *corev1.Pod) string {
		if p.Spec.AutomountServiceAccountToken != nil {
			return "automountServiceAccountToken set from a walk cut short"
		}
		return ""
	}
	cases := []struct {
		name    string
		rule    string
		pod     *corev1.Pod
		facts   Facts
		earlier int64 // checks made by the rule's loops before the one under test
		check   func(*corev1.Pod) string
	}{
		{"read-only-root-filesystem", ruleReadOnlyRootFilesystem.ID, plain(), Facts{}, 0, func(p *corev1.Pod) string {
			k := 0
			for _, c := range p.Spec.Containers {
				if c.SecurityContext != nil && c.SecurityContext.ReadOnlyRootFilesystem != nil {
					k++
				}
			}
			return partly(k, n)
		}},
		{"run-as-user deciding the pod level", ruleRunAsUser.ID, plain(), Facts{}, 0, func(p *corev1.Pod) string {
			if p.Spec.SecurityContext != nil && p.Spec.SecurityContext.RunAsUser != nil {
				return "pod-level runAsUser set after reading part of the containers"
			}
			return ""
		}},
		{"run-as-user per container", ruleRunAsUser.ID, plain(func(p *corev1.Pod) {
			// Its own user and no group: the pod level is out.
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(1000))}
		}), Facts{}, n + 1, func(p *corev1.Pod) string { return partly(users(p, DefaultRunAsUser), n-1) }},
		{"no-service-account-token over volumes", ruleNoServiceAccountToken.ID, plain(volumes), Facts{}, 0, noToken},
		{"no-service-account-token over containers", ruleNoServiceAccountToken.ID, plain(), Facts{}, 0, noToken},
		{"run-as-non-root pinning image users", ruleRunAsNonRoot.ID, plain(), Facts{Pins: pins}, 0, func(p *corev1.Pod) string { return partly(users(p, 1000), n) }},
		{"tmp-emptydir reading volume names", ruleTmpEmptyDir.ID, tweak(newPod(readOnly("app")), volumes), Facts{}, 1, func(p *corev1.Pod) string {
			if len(p.Spec.Volumes) != n {
				return "a /tmp volume was added after reading part of the volume names"
			}
			return ""
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			only := map[string]bool{}
			before := int64(-1)
			for i, r := range registry {
				only[r.ID] = r.ID == c.rule
				if r.ID == c.rule {
					before = int64(i) + 1
				}
			}
			if before < 0 {
				t.Fatalf("no rule %s", c.rule)
			}
			p := c.pod.DeepCopy()
			res := Apply(p, Options{Rules: only, Facts: c.facts, Context: newCountdown(before + c.earlier + n/2)})
			if res.Err == nil {
				t.Error("Apply finished although its context ended inside the rule")
			}
			if msg := c.check(p); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// BenchmarkApplyManyContainers shows that a pass grows linearly with the
// number of containers: ns/op at 10,000 is about ten times ns/op at 1,000.
// The repeated-name case is answered before any rule runs. The optional
// case turns every optional rule on and gives the pass a deadline, as a
// review with ?timeout= has, so it counts the checks of every loop.
func BenchmarkApplyManyContainers(b *testing.B) {
	allOn := map[string]bool{}
	for _, r := range registry {
		allOn[r.ID] = true
	}
	for _, bc := range []struct {
		name     string
		n        int
		cname    func(int) string
		optional bool
	}{
		{"distinct/1000", 1000, func(i int) string { return fmt.Sprintf("c%d", i) }, false},
		{"distinct/10000", 10000, func(i int) string { return fmt.Sprintf("c%d", i) }, false},
		{"repeated/10000", 10000, func(int) string { return "c" }, false},
		{"optional/10000", 10000, func(i int) string { return fmt.Sprintf("c%d", i) }, true},
	} {
		pod := manyContainers(bc.n, bc.cname)
		opts := Options{Context: context.Background()}
		if bc.optional {
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			opts = Options{Rules: allOn, Context: ctx}
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				p := pod.DeepCopy()
				b.StartTimer()
				if res := Apply(p, opts); res.Err != nil {
					b.Fatal(res.Err)
				}
			}
		})
	}
}
