package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

// sampleReport audits a small cluster: an opted-in restricted namespace, one
// that is not, a privileged DaemonSet, a root init container, a hardened pod.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	agent := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "node-agent", Namespace: "ops"}, Spec: appsv1.DaemonSetSpec{Template: template()}}
	agent.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "toolbox", Namespace: "ops"}, Spec: template().Spec}
	bare.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000), SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	bare.Spec.Containers[0].SecurityContext = hardenedSC()
	_, client := newFake(
		ns(t, "shop", map[string]string{defaults.InjectKey: defaults.InjectEnabled, podSecurityPrefix + "enforce": "restricted", podSecurityPrefix + "warn": "restricted"}),
		ns(t, "ops", map[string]string{defaults.InjectKey: "audit"}),
		deployment(t, "shop", "web", nil),
		deployment(t, "shop", "db-migrate", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "chown", Image: "busybox:1", SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)}}}
			d.Spec.Template.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](999)}
		}),
		toUnstructured(t, agent, "apps/v1", "DaemonSet"),
		toUnstructured(t, bare, "v1", "Pod"),
	)
	rep, err := Run(context.Background(), client, Options{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	rep.Problems = append(rep.Problems, Problem{Namespace: "vault", Kind: "Deployment", Reason: ProblemForbidden, Message: `deployments.apps is forbidden: User "auditor" cannot list resource "deployments" in API group "apps" in the namespace "vault"`})
	return rep
}

func TestRenderGolden(t *testing.T) {
	rep := sampleReport(t)
	for _, format := range []string{OutputTable, OutputWide, OutputJSON} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, rep, format); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "report."+format)
			if updateGolden {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (UPDATE_GOLDEN=1 writes it)", err)
			}
			if got := buf.String(); got != string(want) {
				t.Errorf("%s output differs from %s (UPDATE_GOLDEN=1 rewrites it):\n%s", format, golden, got)
			}
		})
	}
}

// TestJSONIsStable holds the JSON contract CI gates rely on: the version
// fields, and lists that are [] rather than null when empty.
func TestJSONIsStable(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, &Report{APIVersion: APIVersion, Kind: ReportKind, Workloads: []Workload{}, Namespaces: []Namespace{}, Problems: []Problem{}, Scope: Scope{Namespaces: []string{}}}, OutputJSON); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "null") {
		t.Errorf("an empty report has null fields:\n%s", buf.String())
	}
	var back map[string]any
	if err := json.Unmarshal(sampleJSON(t), &back); err != nil {
		t.Fatal(err)
	}
	if back["apiVersion"] != "audit.secure-defaults.dev/v1alpha1" || back["kind"] != "AuditReport" {
		t.Errorf("apiVersion/kind = %v/%v", back["apiVersion"], back["kind"])
	}
	workloads, _ := back["workloads"].([]any)
	if len(workloads) == 0 {
		t.Fatalf("the sample report has no workloads to check:\n%s", sampleJSON(t))
	}
	for _, w := range workloads {
		m := w.(map[string]any)
		for _, f := range []string{"rules", "needsRoot", "warnings"} {
			if _, ok := m[f].([]any); !ok {
				t.Errorf("workload %v: %s is %v, want a list", m["name"], f, m[f])
			}
		}
		if _, ok := m["restricted"].(map[string]any)["stillFails"].([]any); !ok {
			t.Errorf("workload %v: restricted.stillFails is not a list", m["name"])
		}
	}
}

func sampleJSON(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, sampleReport(t), OutputJSON); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRenderRejectsUnknownFormat(t *testing.T) {
	if err := Render(&bytes.Buffer{}, &Report{}, "yaml"); err == nil {
		t.Error("Render accepted output format yaml")
	}
}
