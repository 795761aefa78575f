package imagelookup_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

func podOf(tweak func(*corev1.Pod), images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	for i, img := range images {
		c := corev1.Container{Name: string(rune('a' + i)), Image: img}
		switch i {
		case 0:
			p.Spec.InitContainers = append(p.Spec.InitContainers, c)
		case len(images) - 1:
			p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name, Image: c.Image}})
		default:
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
	}
	if tweak != nil {
		tweak(p)
	}
	return p
}

func TestForPod(t *testing.T) {
	reg := ilt.New(t)
	passwd := map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000"), "etc/group": "staff:x:50:\n"}
	numeric := reg.Push(t, "numeric", "v1", ilt.Image(t, "65532"))
	named := reg.Push(t, "named", "v1", ilt.Image(t, "app:staff", passwd))
	root := reg.Push(t, "root", "v1", ilt.Image(t, ""))
	missing := reg.Host + "/missing:v1"

	uid := func(v int64) *int64 { return &v }
	cases := []struct {
		name      string
		pod       *corev1.Pod
		cfg       func(*imagelookup.Config)
		only      map[string]bool
		needsRoot []string
		nonRoot   string // containers, comma-separated, sorted
		pins      map[string]imagelookup.Pin
		warnings  []string // substrings, one per warning, in order
	}{
		{
			name:      "init, regular and ephemeral containers",
			pod:       podOf(nil, root, numeric, named),
			needsRoot: []string{"a"},
			nonRoot:   "b",
			pins:      map[string]imagelookup.Pin{"c": {UID: 1000, GID: uid(50)}},
		},
		{
			name:    "a fixed UID for root images",
			pod:     podOf(nil, root, numeric, named),
			cfg:     func(c *imagelookup.Config) { c.RootImageRunAsUser = uid(65534) },
			nonRoot: "b",
			pins: map[string]imagelookup.Pin{
				"a": {UID: 65534, Reason: "configured UID for images that run as root (image " + root},
				"c": {UID: 1000, GID: uid(50), Reason: `the UID of user "app:staff" in image ` + named},
			},
		},
		{
			name: "users the manifest sets are not looked up",
			pod: podOf(func(p *corev1.Pod) {
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: uid(7)}
			}, root, named, missing),
		},
		{
			name: "runAsNonRoot: false is root on purpose",
			pod: podOf(func(p *corev1.Pod) {
				f, tr := false, true
				p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &f}
				// The container's own value wins over the pod's.
				p.Spec.EphemeralContainers[0].SecurityContext = &corev1.SecurityContext{RunAsNonRoot: &tr}
			}, root, numeric, named),
			pins: map[string]imagelookup.Pin{"c": {UID: 1000, GID: uid(50)}},
		},
		{
			name: "Windows pods are not looked up",
			pod: podOf(func(p *corev1.Pod) {
				p.Spec.OS = &corev1.PodOS{Name: corev1.Windows}
			}, root, named, missing),
		},
		{
			// As package defaults reads a pod: the rules would ignore
			// what a lookup says of such a pod.
			name: "pods pinned to Windows nodes by affinity are not looked up",
			pod: podOf(func(p *corev1.Pod) {
				p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
					RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelOSStable, Operator: corev1.NodeSelectorOpIn, Values: []string{"windows"}}},
					}}},
				}}
			}, root, named, missing),
		},
		{
			name: "only the containers asked for",
			pod:  podOf(nil, root, numeric, named),
			only: map[string]bool{"c": true},
			pins: map[string]imagelookup.Pin{"c": {UID: 1000, GID: uid(50)}},
		},
		{
			name:     "a failed lookup warns and decides nothing",
			pod:      podOf(nil, numeric, missing, numeric),
			nonRoot:  "a,c",
			warnings: []string{`container "b": the user of image ` + missing + ` is not known`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := reg.ManifestRequests.Load()
			r := newResolver(t, reg, tc.cfg)
			pf := r.ForPod(context.Background(), tc.pod, tc.only, nil)
			var got []string
			for n, reason := range pf.NeedsRoot {
				got = append(got, n)
				if !strings.Contains(reason, "image "+root+" runs as root") {
					t.Errorf("reason %q does not name the image", reason)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.needsRoot, ",") {
				t.Errorf("needs root %v, want %v", got, tc.needsRoot)
			}
			var nonRoot []string
			for n, ok := range pf.NonRoot {
				if ok {
					nonRoot = append(nonRoot, n)
				}
			}
			sort.Strings(nonRoot)
			if strings.Join(nonRoot, ",") != tc.nonRoot {
				t.Errorf("non-root %v, want %s", nonRoot, tc.nonRoot)
			}
			if len(pf.Pins) != len(tc.pins) {
				t.Errorf("pins %+v, want %+v", pf.Pins, tc.pins)
			}
			for n, want := range tc.pins {
				if p, ok := pf.Pins[n]; !ok || p.UID != want.UID || !eq(p.GID, want.GID) || !strings.Contains(p.Reason, want.Reason) {
					t.Errorf("pin of %s: %+v, want %+v", n, pf.Pins[n], want)
				}
			}
			if len(pf.Warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", pf.Warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(pf.Warnings[i], w) {
					t.Errorf("warning %q does not say %q", pf.Warnings[i], w)
				}
			}
			if tc.only == nil && len(tc.needsRoot)+len(tc.pins)+len(tc.warnings) == 0 && reg.ManifestRequests.Load() != before {
				t.Error("the registry was asked about images the pod decides itself")
			}
		})
	}
}

// TestForPodStall: with a registry that never answers, ForPod returns
// before the review's deadline, leaving it time to answer, and every
// container is defaulted as without lookup.
func TestForPodStall(t *testing.T) {
	reg := ilt.New(t)
	ref := reg.Push(t, "app", "v1", ilt.Image(t, "app"))
	reg.Gate(func(*http.Request) (int, bool) { return 0, true })
	r := newResolver(t, reg, func(c *imagelookup.Config) { c.Timeout = time.Minute })
	// ForPod keeps a tenth of the time for the rest of the review: 500 ms
	// here, which a loaded machine does not eat (100 ms sometimes would).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	pf := r.ForPod(ctx, podOf(nil, ref, ref, ref), nil, nil)
	if now := time.Now(); !now.Before(deadline) {
		t.Errorf("returned %s after the review's deadline", now.Sub(deadline))
	}
	if len(pf.Pins)+len(pf.NeedsRoot) != 0 || len(pf.Warnings) != 3 || !strings.Contains(pf.Warnings[0], "did not answer in time") {
		t.Errorf("got %+v, want three timeout warnings and nothing decided", pf)
	}
}
