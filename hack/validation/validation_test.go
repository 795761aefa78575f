package validation

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	podutil "k8s.io/kubernetes/pkg/api/pod"
	"k8s.io/kubernetes/pkg/apis/core"
	_ "k8s.io/kubernetes/pkg/apis/core/install" // registers v1 defaulting and conversion in legacyscheme
	corevalidation "k8s.io/kubernetes/pkg/apis/core/validation"
	"k8s.io/kubernetes/pkg/capabilities"

	"github.com/secure-defaults/secure-defaults/internal/jsontree"
	"github.com/secure-defaults/secure-defaults/internal/podgen"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/manifest"
)

// TestMain sets up what kube-apiserver sets up from its flags before it
// validates anything, as it does it, with --allow-privileged=true: clusters
// that run privileged workloads set it, and the rules treat privileged
// containers specially, so they must be in the check.
func TestMain(m *testing.M) {
	capabilities.Setup(true, 0)
	os.Exit(m.Run())
}

// fixture is one pod as pkg/defaults' tests write it: the pod in, and for an
// ephemeral-container update the ephemeral containers the running pod had.
type fixture struct {
	Pod      *corev1.Pod                 `json:"pod"`
	Existing []corev1.EphemeralContainer `json:"existing"`
}

// tally counts what a batch showed, so a batch of only invalid pods (which
// would prove nothing) fails.
type tally struct{ total, validBefore int }

func (n tally) require(t *testing.T, minValid int) {
	t.Helper()
	t.Logf("%d pods, %d valid before the rules", n.total, n.validBefore)
	if n.validBefore < minValid {
		t.Errorf("only %d of %d pods are valid before the rules, want at least %d: the check would prove little", n.validBefore, n.total, minValid)
	}
}

// internal returns pod as the API server validates it: defaulted as on
// decoding, then converted to the internal type.
func internal(t *testing.T, pod *corev1.Pod) *core.Pod {
	t.Helper()
	v1 := pod.DeepCopy()
	legacyscheme.Scheme.Default(v1)
	var out core.Pod
	if err := legacyscheme.Scheme.Convert(v1, &out, nil); err != nil {
		t.Fatalf("converting %s to the internal type: %v", pod.Name, err)
	}
	return &out
}

// validate runs the validation the API server runs for a Pod CREATE or, with
// existing non-nil, for an update of the ephemeralcontainers subresource.
func validate(t *testing.T, pod *corev1.Pod, existing []corev1.EphemeralContainer) field.ErrorList {
	t.Helper()
	p := internal(t, pod)
	if existing == nil {
		opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&p.Spec, nil, &p.ObjectMeta, nil)
		return corevalidation.ValidatePodCreate(p, opts)
	}
	oldV1 := pod.DeepCopy()
	oldV1.Spec.EphemeralContainers = existing
	old := internal(t, oldV1)
	// An update names the version it replaces.
	p.ResourceVersion, old.ResourceVersion = "1", "1"
	opts := podutil.GetValidationOptionsFromPodSpecAndMeta(&p.Spec, &old.Spec, &p.ObjectMeta, &old.ObjectMeta)
	return corevalidation.ValidatePodEphemeralContainersUpdate(p, old, opts)
}

// check asserts "valid before ⇒ valid after" for in and the rules' out.
func check(t *testing.T, name string, in, out *corev1.Pod, existing []corev1.EphemeralContainer, n *tally) {
	t.Helper()
	n.total++
	if errs := validate(t, in, existing); len(errs) > 0 {
		return
	}
	n.validBefore++
	if errs := validate(t, out, existing); len(errs) > 0 {
		before, _ := json.Marshal(in)
		after, _ := json.Marshal(out)
		t.Errorf("%s: valid before the rules, invalid after: %v\nbefore: %s\nafter:  %s", name, errs.ToAggregate(), before, after)
	}
}

// apply runs the rules as the webhook does on the pod the API server hands
// it, which is already defaulted.
func apply(pod *corev1.Pod, existing []corev1.EphemeralContainer) (*corev1.Pod, *corev1.Pod) {
	in := pod.DeepCopy()
	legacyscheme.Scheme.Default(in)
	out := in.DeepCopy()
	if existing != nil {
		defaults.ApplyEphemeral(out, existing, defaults.Options{})
	} else {
		defaults.Apply(out, defaults.Options{})
	}
	return in, out
}

// TestRuleFixtures checks every pod pkg/defaults' tests checked.
func TestRuleFixtures(t *testing.T) {
	dir := os.Getenv("SECURE_DEFAULTS_FIXTURES")
	if dir == "" {
		t.Skip("SECURE_DEFAULTS_FIXTURES is not set; `make validation` sets it after writing the fixtures")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var n tally
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fx fixture
		if err := json.Unmarshal(raw, &fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		in, out := apply(fx.Pod, fx.Existing)
		check(t, filepath.Base(f), in, out, fx.Existing, &n)
	}
	n.require(t, 80)
}

// TestGeneratedPods checks a fixed batch of pods from internal/podgen, the
// generator the rules' fuzzer uses.
func TestGeneratedPods(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 2026))
	var n tally
	for i := 0; i < 3000; i++ {
		data := make([]byte, rng.IntN(96))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		pod, running := podgen.Pod(data)
		var existing []corev1.EphemeralContainer
		if running >= 0 {
			existing = append([]corev1.EphemeralContainer{}, pod.Spec.EphemeralContainers[:running]...)
		} else {
			// A CREATE with ephemeral containers is invalid: drop them so
			// the pod tests something.
			pod.Spec.EphemeralContainers = nil
		}
		in, out := apply(pod, existing)
		check(t, fmt.Sprintf("generated pod %d (%x)", i, data), in, out, existing, &n)
	}
	n.require(t, 1000)
}

// TestMutateCorpus checks every pod of the mutate corpus, before and after
// `secure-defaults mutate`'s own code path.
func TestMutateCorpus(t *testing.T) {
	files, err := filepath.Glob("../../pkg/manifest/testdata/corpus/*")
	if err != nil {
		t.Fatal(err)
	}
	var n tally
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := manifest.Read(r, filepath.Base(f))
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, doc := range docs {
			res, err := manifest.Mutate(doc, defaults.Options{})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			for i, p := range res.Pods {
				name := fmt.Sprintf("%s document %d pod %d", filepath.Base(f), doc.Index, i)
				in := podAt(t, doc.JSON, p.Path, name)
				out := podAt(t, res.JSON, p.Path, name)
				check(t, name, in, out, nil, &n)
			}
		}
	}
	n.require(t, 20)
}

// podAt decodes the pod or pod template at JSON pointer ptr of doc as a Pod,
// named and namespaced as the API server would see it.
func podAt(t *testing.T, doc []byte, ptr, name string) *corev1.Pod {
	t.Helper()
	root, err := jsontree.Decode(doc)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	nodes, err := jsontree.Path(root, ptr)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	v := nodes[len(nodes)-1]
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(raw, &pod); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	pod.APIVersion, pod.Kind = "v1", "Pod"
	if pod.Name == "" && pod.GenerateName == "" {
		pod.Name = "from-template"
	}
	if pod.Namespace == "" {
		pod.Namespace = "default"
	}
	return &pod
}
