package defaults

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestRunAsUser(t *testing.T) {
	on := Options{Rules: map[string]bool{ruleRunAsUser.ID: true}}
	user := func(uid, gid int64) func(*corev1.Pod) {
		return func(p *corev1.Pod) { podSC(p).RunAsUser, podSC(p).RunAsGroup = ptr(uid), ptr(gid) }
	}
	ids := &corev1.SecurityContext{RunAsUser: ptr(DefaultRunAsUser), RunAsGroup: ptr(DefaultRunAsUser)}
	root := &corev1.SecurityContext{RunAsUser: ptr(int64(0))}
	running := runningPod()
	cases := registerCases(ruleRunAsUser.ID, []ruleCase{
		{name: "unset: the default IDs at pod level", tags: []string{tagUnset}, opts: on,
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), user(DefaultRunAsUser, DefaultRunAsUser))},
		{name: "configured IDs", tags: []string{tagUnset}, opts: Options{Rules: on.Rules, RunAsUser: 1001, RunAsGroup: 2002},
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), user(1001, 2002))},
		{name: "pod's group kept", tags: []string{tagUnset}, opts: on,
			in:   tweak(newPod(ctr("app")), func(p *corev1.Pod) { podSC(p).RunAsGroup = ptr(int64(7)) }),
			want: tweak(newPod(ctr("app")), user(DefaultRunAsUser, 7))},
		{name: "pod sets a user", tags: []string{tagSet}, opts: on,
			in: tweak(newPod(ctr("app")), user(1000, 1000))},
		{name: "a container needs root: per container on the others", tags: []string{tagOtherWay}, opts: on,
			in:   newPod(ctr("app"), withSC(ctr("root"), root)),
			want: newPod(withSC(ctr("app"), ids), withSC(ctr("root"), root))},
		{name: "a container sets its own user: per container, so no pod-level group changes its group", tags: []string{tagSet}, opts: on,
			in:   newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})),
			want: newPod(withSC(ctr("app"), ids), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))}))},
		{name: "a container sets its own user and group: pod level", tags: []string{tagSet}, opts: on,
			in:   newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(1000))})),
			want: tweak(newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000)), RunAsGroup: ptr(int64(1000))})), user(DefaultRunAsUser, DefaultRunAsUser))},
		{name: "a container sets its own user, the pod a group: pod-level user only", tags: []string{tagSet}, opts: on,
			in: tweak(newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})),
				func(p *corev1.Pod) { podSC(p).RunAsGroup = ptr(int64(7)) }),
			want: tweak(newPod(ctr("app"), withSC(ctr("own"), &corev1.SecurityContext{RunAsUser: ptr(int64(1000))})), user(DefaultRunAsUser, 7))},
		{name: "init container as root, sidecar without a user", tags: []string{tagInit, tagSidecar}, opts: on,
			in: tweak(newPod(ctr("app")), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), root), sidecar(ctr("proxy"))}
			}),
			want: tweak(newPod(withSC(ctr("app"), ids)), func(p *corev1.Pod) {
				p.Spec.InitContainers = []corev1.Container{withSC(ctr("chown"), root), sidecar(withSC(ctr("proxy"), ids))}
			})},
		{name: "ephemeral: per new container", tags: []string{tagEphemeral}, opts: on,
			in: tweak(running, withDebugger(nil)), existing: running.Spec.EphemeralContainers,
			want: tweak(running, withDebugger(ids))},
		{name: "windows pod: nothing", tags: []string{tagWindows}, opts: on,
			in: tweak(newPod(ctr("app")), windowsPod)},
		// With image lookup: the rule is for images that name no non-root user.
		{name: "image lookup: a root image gets the IDs", tags: []string{tagUnset}, opts: withFacts(on, Facts{NeedsRoot: map[string]string{"app": "its image runs as root"}}),
			in: newPod(ctr("app")), want: tweak(newPod(ctr("app")), user(DefaultRunAsUser, DefaultRunAsUser))},
		{name: "image lookup: an image naming a non-root user keeps it, per container on the others", tags: []string{tagSet}, opts: withFacts(on, Facts{ImageNonRoot: map[string]bool{"app": true}}),
			in: newPod(ctr("app"), ctr("side")), want: newPod(ctr("app"), withSC(ctr("side"), ids))},
		// (The pass skips the rule altogether; the table runs it alone, to
		// show that the root image's fact then stands.)
		{name: "image lookup: rule skipped by the pod's annotation, the root image stays root", tags: []string{tagOtherWay}, opts: withFacts(on, Facts{NeedsRoot: map[string]string{"app": "its image runs as root"}}),
			in: tweak(newPod(ctr("app"), ctr("side")), func(p *corev1.Pod) {
				p.Annotations = map[string]string{SkipRulesAnnotation: ruleRunAsUser.ID}
			}),
			want: tweak(newPod(ctr("app"), withSC(ctr("side"), ids)), func(p *corev1.Pod) {
				p.Annotations = map[string]string{SkipRulesAnnotation: ruleRunAsUser.ID}
			})},
	})
	runRuleCases(t, ruleRunAsUser, cases)
}

// withFacts returns opts with facts.
func withFacts(opts Options, facts Facts) Options {
	opts.Facts = facts
	return opts
}

// TestRunAsUserWithImageLookup: every rule together, with what image lookup
// learned. run-as-user gives its IDs to the root image's container (pinned,
// so it is no longer root: it gets runAsNonRoot and drops ALL) and to the
// container lookup knows nothing of, and leaves the numeric and the named
// user's images their users; a UID the lookup pinned for root images
// (imageLookup.rootImageRunAsUser) wins over the rule's.
func TestRunAsUserWithImageLookup(t *testing.T) {
	facts := Facts{
		NeedsRoot:    map[string]string{"root": "its image x runs as root"},
		Pins:         map[string]Pin{"named": {UID: 1000, Reason: "the UID of user app"}},
		ImageNonRoot: map[string]bool{"numeric": true, "named": true},
	}
	opts := Options{Rules: map[string]bool{ruleRunAsUser.ID: true}, Facts: facts}
	pod := newPod(ctr("root"), ctr("numeric"), ctr("named"), ctr("plain"))
	got := pod.DeepCopy()
	res := Apply(got, opts)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	user := func(c corev1.Container) (uid, gid int64) {
		sc := c.SecurityContext
		if sc == nil {
			return -1, -1
		}
		uid, gid = -1, -1
		if sc.RunAsUser != nil {
			uid = *sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = *sc.RunAsGroup
		}
		return uid, gid
	}
	want := map[string][2]int64{"root": {DefaultRunAsUser, DefaultRunAsUser}, "numeric": {-1, -1}, "named": {1000, -1}, "plain": {DefaultRunAsUser, DefaultRunAsUser}}
	for _, c := range got.Spec.Containers {
		if uid, gid := user(c); [2]int64{uid, gid} != want[c.Name] {
			t.Errorf("%s: runAsUser/runAsGroup %d/%d, want %v", c.Name, uid, gid, want[c.Name])
		}
		if sc := c.SecurityContext; sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 {
			t.Errorf("%s: capabilities not dropped: %+v", c.Name, sc)
		}
	}
	if psc := got.Spec.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser != nil {
		t.Errorf("pod securityContext %+v, want runAsNonRoot and no pod-level user", psc)
	}
	if n := countContaining(res.Warnings, "where the image names no non-root user (its image x runs as root)"); n != 1 {
		t.Errorf("warnings %q: want one saying why root got the rule's UID", res.Warnings)
	}
	if again := Apply(got.DeepCopy(), opts); again.Changed() {
		t.Errorf("second pass applied %q", again.Applied)
	}
	if roots := NeedsRoot(pod, opts); len(roots) != 0 {
		t.Errorf("NeedsRoot = %+v, want none: run-as-user gives the root image a UID", roots)
	}

	// The lookup's own UID for root images wins.
	fixed := opts
	fixed.Facts = Facts{Pins: map[string]Pin{"root": {UID: 4242, Reason: "configured"}}}
	got = newPod(ctr("root"))
	Apply(got, fixed)
	if uid, _ := user(got.Spec.Containers[0]); uid != 4242 {
		t.Errorf("root with rootImageRunAsUser: runAsUser %d, want 4242", uid)
	}

	// Where pods may not opt out, the skip annotation does not keep the
	// root image root.
	skipping := tweak(pod, func(p *corev1.Pod) {
		p.Annotations = map[string]string{SkipRulesAnnotation: ruleRunAsUser.ID}
	})
	if roots := NeedsRoot(skipping, opts); len(roots) != 1 {
		t.Errorf("NeedsRoot with run-as-user skipped = %+v, want root", roots)
	}
	strict := opts
	strict.IgnorePodOptOut = true
	if roots := NeedsRoot(skipping, strict); len(roots) != 0 {
		t.Errorf("NeedsRoot with the skip annotation ignored = %+v, want none", roots)
	}

	// A container every rule leaves alone gets no pin: it stays root.
	excluded := opts
	excluded.ExcludeContainers = []string{"root"}
	if roots := NeedsRoot(pod, excluded); len(roots) != 1 || roots[0].Name != "root" {
		t.Errorf("NeedsRoot with the root image's container excluded = %+v, want root", roots)
	}
	annotated := tweak(pod, func(p *corev1.Pod) {
		p.Annotations = map[string]string{SkipContainersAnnotation: "root"}
	})
	if roots := NeedsRoot(annotated, opts); len(roots) != 1 || roots[0].Name != "root" {
		t.Errorf("NeedsRoot with the root image's container skipped = %+v, want root", roots)
	}

	// Without run-as-user the root image keeps root.
	off := Options{Facts: facts}
	if roots := NeedsRoot(pod, off); len(roots) != 1 || roots[0].Name != "root" {
		t.Errorf("NeedsRoot without run-as-user = %+v, want root", roots)
	}
}
