package patch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mattbaird/jsonpatch"
	jsonpatchv4 "gopkg.in/evanphx/json-patch.v4"
	corev1 "k8s.io/api/core/v1"
)

// TestShortcutAgreesWithLibrary holds appendShortcut to what it claims: for
// every change it takes, its operations do what the library's own diff of the
// same change does — applied to the part as encoded, and to a document where
// an unset part is absent (as in the raw object the API server sends) — and
// never take more operations.
func TestShortcutAgreesWithLibrary(t *testing.T) {
	vol := func(n string) corev1.Volume {
		return corev1.Volume{Name: n, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
	}
	mount := func(n string) corev1.VolumeMount { return corev1.VolumeMount{Name: n, MountPath: "/" + n} }
	f := false
	cases := []struct {
		name          string
		before, after any
		wantShortcut  bool
	}{
		{"pod security context set", (*corev1.PodSecurityContext)(nil), &corev1.PodSecurityContext{RunAsNonRoot: &f}, true},
		{"container security context set", (*corev1.SecurityContext)(nil), &corev1.SecurityContext{AllowPrivilegeEscalation: &f,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}, true},
		{"container security context changed", &corev1.SecurityContext{}, &corev1.SecurityContext{AllowPrivilegeEscalation: &f}, false},
		{"volumes from nil", []corev1.Volume(nil), []corev1.Volume{vol("tmp-a")}, true},
		{"volumes from empty", []corev1.Volume{}, []corev1.Volume{vol("tmp-a"), vol("tmp-b")}, true},
		{"volumes appended", []corev1.Volume{vol("data")}, []corev1.Volume{vol("data"), vol("tmp-a"), vol("tmp-b")}, true},
		{"volumes duplicate-looking append", []corev1.Volume{vol("a"), vol("a")}, []corev1.Volume{vol("a"), vol("a"), vol("a")}, true},
		{"volume changed in place", []corev1.Volume{vol("data")}, []corev1.Volume{vol("other"), vol("tmp")}, false},
		{"mounts appended", []corev1.VolumeMount{mount("data")}, []corev1.VolumeMount{mount("data"), {Name: "tmp-a", MountPath: "/tmp"}}, true},
		{"annotations from nil", map[string]string(nil), map[string]string{"secure-defaults.dev/defaulted": "x"}, true},
		{"annotations from empty", map[string]string{}, map[string]string{"a/b~c": "x"}, true},
		{"annotation added", map[string]string{"k": "v"}, map[string]string{"k": "v", "secure-defaults.dev/defaulted": "x", "z": ""}, true},
		{"annotation changed", map[string]string{"secure-defaults.dev/defaulted": "a"}, map[string]string{"secure-defaults.dev/defaulted": "a,b"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			short, ok := appendShortcut(nil, "/p", tc.before, tc.after)
			if ok != tc.wantShortcut {
				t.Fatalf("shortcut taken = %v, want %v", ok, tc.wantShortcut)
			}
			a, _ := json.Marshal(tc.before)
			b, _ := json.Marshal(tc.after)
			lib, err := createFromJSON(a, b)
			if err != nil {
				t.Fatal(err)
			}
			for i := range lib {
				lib[i].Path = "/p" + lib[i].Path
			}
			if !ok {
				return
			}
			if len(short) > len(lib) {
				t.Errorf("shortcut takes %d operations, the library %d", len(short), len(lib))
			}
			docs := []string{fmt.Sprintf(`{"p":%s,"q":1}`, a)}
			if string(a) == "null" || string(a) == "[]" || string(a) == "{}" {
				docs = append(docs, `{"q":1}`) // unset: absent from the raw object
			}
			want := canonical(t, []byte(fmt.Sprintf(`{"p":%s,"q":1}`, b)))
			for _, doc := range docs {
				for name, ops := range map[string][]jsonpatch.JsonPatchOperation{"shortcut": short, "library": lib} {
					got, err := applyOps(ops, doc)
					if name == "library" && err != nil {
						continue // the library's own ops can need the parent; ours must not
					}
					if err != nil {
						t.Fatalf("%s ops %v on %s: %v", name, ops, doc, err)
					}
					if !reflect.DeepEqual(canonical(t, got), want) {
						t.Errorf("%s ops on %s give %s, want %s", name, doc, got, b)
					}
				}
			}
		})
	}
}

func applyOps(ops []jsonpatch.JsonPatchOperation, doc string) ([]byte, error) {
	raw, err := encode(ops)
	if err != nil {
		return nil, err
	}
	p, err := jsonpatchv4.DecodePatch(raw)
	if err != nil {
		return nil, err
	}
	return p.Apply([]byte(doc))
}

func canonical(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return v
}
