//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsjson "sigs.k8s.io/json"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/internal/jsontree"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/manifest"
)

// insecureMarker is the annotation a corpus fixture carries, on the object
// holding a pod, when the pod makes a deliberate choice Pod Security
// "restricted" forbids. Such pods, and opted-out ones, go to a privileged
// namespace; all others to a restricted one.
const insecureMarker = "test.secure-defaults.dev/insecure"

// corpusPod is one pod or pod template of the corpus, as `secure-defaults
// mutate` sees it.
type corpusPod struct {
	where     string // file: object
	input     *corev1.Pod
	predicted *corev1.Pod // what mutate wrote for it
	insecure  string      // the marker's reason
	optedOut  bool
}

// corpusDocuments reads every file of pkg/manifest/testdata/corpus, in
// name order, and returns their documents; each Document's Source is the
// file's base name.
func corpusDocuments(t *testing.T) []manifest.Document {
	t.Helper()
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, pat := range []string{"*.yaml", "*.json"} {
		m, err := filepath.Glob(filepath.Join(root, "pkg", "manifest", "testdata", "corpus", pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var out []manifest.Document
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := manifest.Read(bytes.NewReader(src), filepath.Base(f))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, docs...)
	}
	return out
}

// loadCorpus reads every file of pkg/manifest/testdata/corpus, runs the
// mutate command's code on it, and returns each pod with its prediction.
func loadCorpus(t *testing.T) []corpusPod {
	t.Helper()
	var out []corpusPod
	for _, d := range corpusDocuments(t) {
		r, err := manifest.Mutate(d, defaults.Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Pods {
			in, inMeta, err := podAt(d.JSON, p.Path)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.Source, p.Object, err)
			}
			pred, _, err := podAt(r.JSON, p.Path)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.Source, p.Object, err)
			}
			claims, err := claimVolumes(d.JSON, p.Path)
			if err != nil {
				t.Fatalf("%s: %s: %v", d.Source, p.Object, err)
			}
			// The StatefulSet controller adds these before admission,
			// after the template's own volumes.
			n := len(in.Spec.Volumes)
			in.Spec.Volumes = append(in.Spec.Volumes, claims...)
			pred.Spec.Volumes = append(pred.Spec.Volumes[:n:n], append(claims, pred.Spec.Volumes[n:]...)...)
			out = append(out, corpusPod{
				where:     d.Source + ": " + p.Object,
				input:     in,
				predicted: pred,
				insecure:  inMeta,
				optedOut:  p.OptedOut,
			})
		}
	}
	if len(out) < 20 {
		t.Fatalf("found %d pods in the corpus, want at least 20", len(out))
	}
	return out
}

// podAt decodes the pod (a Pod, or a pod template) at the JSON pointer path
// of doc, as the API server would, and returns the insecure marker of the
// nearest object on the way that carries one.
func podAt(doc []byte, path string) (*corev1.Pod, string, error) {
	root, err := jsontree.Decode(doc)
	if err != nil {
		return nil, "", err
	}
	nodes, err := jsontree.Path(root, path)
	if err != nil {
		return nil, "", err
	}
	marker := ""
	for _, n := range nodes {
		if m := markerOf(n); m != "" {
			marker = m
		}
	}
	v := nodes[len(nodes)-1]
	m, _ := v.(map[string]any)
	b, err := json.Marshal(map[string]any{"metadata": m["metadata"], "spec": m["spec"]})
	if err != nil {
		return nil, "", err
	}
	pod := &corev1.Pod{}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(b, pod); err != nil {
		return nil, "", err
	}
	return pod, marker, nil
}

// claimVolumes returns, when the pod at path is the template of a
// StatefulSet, the volumes its controller adds for the volumeClaimTemplates
// (claim <template>-<set>-0), without which the pod's mounts are invalid.
func claimVolumes(doc []byte, path string) ([]corev1.Volume, error) {
	holder, ok := strings.CutSuffix(path, "/spec/template")
	if !ok {
		return nil, nil
	}
	root, err := jsontree.Decode(doc)
	if err != nil {
		return nil, err
	}
	nodes, err := jsontree.Path(root, holder)
	if err != nil {
		return nil, err
	}
	v := nodes[len(nodes)-1]
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var set struct {
		Kind     string
		Metadata metav1.ObjectMeta
		Spec     struct {
			VolumeClaimTemplates []corev1.PersistentVolumeClaim
		}
	}
	if err := json.Unmarshal(b, &set); err != nil || set.Kind != "StatefulSet" {
		return nil, err
	}
	var out []corev1.Volume
	for _, c := range set.Spec.VolumeClaimTemplates {
		out = append(out, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name + "-" + set.Metadata.Name + "-0"},
		}})
	}
	return out, nil
}

func markerOf(v any) string {
	m, _ := v.(map[string]any)
	meta, _ := m["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	s, _ := ann[insecureMarker].(string)
	return s
}

var notDNS = regexp.MustCompile(`[^a-z0-9-]+`)

// forCreate turns a pod read from a manifest into one that can be created in
// ns: a generated name, and none of the fields only the API server sets
// (kubectl get output carries them). The rules do not read these fields.
func forCreate(p *corev1.Pod, ns, where string) *corev1.Pod {
	p = p.DeepCopy()
	base := p.Name
	if base == "" {
		base = strings.TrimSuffix(where[strings.LastIndex(where, " ")+1:], "*")
		base = base[strings.LastIndex(base, "/")+1:]
	}
	base = strings.Trim(notDNS.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	p.ObjectMeta = metav1.ObjectMeta{
		GenerateName: base + "-",
		Namespace:    ns,
		Labels:       p.Labels,
		Annotations:  p.Annotations,
	}
	p.Status = corev1.PodStatus{}
	return p
}

func testCorpus(ctx context.Context, t *testing.T) {
	restricted := namespace(ctx, t, "corpus-restricted-", true, psaRestricted)
	privileged := namespace(ctx, t, "corpus-privileged-", true, psaPrivileged)
	var admitted, rejected int
	for _, cp := range loadCorpus(t) {
		t.Run(cp.where, func(t *testing.T) {
			ns, level := restricted, psaRestricted
			if cp.insecure != "" || cp.optedOut {
				ns, level = privileged, psaPrivileged
			}
			input := forCreate(cp.input, ns, cp.where)
			want := forCreate(cp.predicted, ns, cp.where)
			if err := ensureServiceAccount(ctx, ns, input.Spec.ServiceAccountName); err != nil {
				t.Fatal(err)
			}
			stored, err := controlPlane.Client.CoreV1().Pods(ns).Create(ctx, input.DeepCopy(), metav1.CreateOptions{})
			if err != nil {
				rejected++
				t.Fatalf("rejected in a %s namespace: %v", level, err)
			}
			admitted++
			for _, d := range ruleOwnedDiff(stored, want, input) {
				t.Errorf("stored pod differs from what mutate predicts: %s", d)
			}
			for _, d := range keptUserFields(stored, input) {
				t.Errorf("user's value changed: %s", d)
			}
			if cp.optedOut && stored.Annotations[defaults.DefaultedAnnotation] != "" {
				t.Errorf("opted-out pod was defaulted: %s", stored.Annotations[defaults.DefaultedAnnotation])
			}
		})
	}
	t.Logf("%d corpus pods admitted, %d rejected", admitted, rejected)
}
