package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: root, image: example/root:1, securityContext: {runAsUser: 0}}
      - {name: web, image: example/web:1}
`

const serviceYAML = `apiVersion: v1
kind: Service
metadata: {name: web}
spec: {ports: [{port: 80}]}
`

func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	s := IO{In: strings.NewReader(stdin), Out: &out, Err: &errb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code = Run(context.Background(), append([]string{"mutate"}, args...), s)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// docs splits YAML output into objects.
func docs(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, d := range strings.Split(out, "---\n") {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("output is not YAML: %v\n%s", err, out)
		}
		objs = append(objs, m)
	}
	return objs
}

func kinds(objs []map[string]any) string {
	var k []string
	for _, o := range objs {
		k = append(k, o["kind"].(string))
	}
	return strings.Join(k, ",")
}

func TestMutateCommand(t *testing.T) {
	dir := t.TempDir()
	deploy := writeFile(t, dir, "deploy.yaml", deploymentYAML)
	svc := writeFile(t, dir, "svc.json", `{"apiVersion":"v1","kind":"Service","metadata":{"name":"api"}}`)
	bad := writeFile(t, dir, "bad.yaml", serviceYAML+"---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: nope}\n")

	t.Run("files in order, every document written", func(t *testing.T) {
		code, out, stderr := runCLI(t, "", "-f", svc, "-f", deploy)
		if code != 0 {
			t.Fatalf("exit %d, stderr: %s", code, stderr)
		}
		objs := docs(t, out)
		if got := kinds(objs); got != "Service,Deployment" {
			t.Fatalf("output kinds %s, want Service,Deployment", got)
		}
		if !strings.Contains(out, "secure-defaults.dev/defaulted:") || !strings.Contains(out, "type: RuntimeDefault") {
			t.Errorf("the Deployment's pod was not mutated:\n%s", out)
		}
		// Warnings go to stderr, prefixed with file, document and object.
		if !strings.Contains(stderr, "warning: "+deploy+": document 1: Deployment prod/web: ") {
			t.Errorf("stderr lacks the runAsUser: 0 warning with its prefix: %q", stderr)
		}
		if strings.Contains(out, "warning") {
			t.Errorf("warning written to stdout:\n%s", out)
		}
	})
	t.Run("stdin by default and with -", func(t *testing.T) {
		_, fromFile, _ := runCLI(t, "", "-f", deploy)
		for _, args := range [][]string{nil, {"-f", "-"}} {
			code, out, stderr := runCLI(t, deploymentYAML, args...)
			if code != 0 || out != fromFile {
				t.Errorf("mutate %v on stdin: exit %d, output differs from the file's (stderr %q)", args, code, stderr)
			}
			if !strings.Contains(stderr, "<stdin>: document 1") {
				t.Errorf("stdin warnings not named <stdin>: %q", stderr)
			}
		}
	})
	t.Run("patch output, one line per document", func(t *testing.T) {
		code, out, stderr := runCLI(t, serviceYAML+"---\n"+deploymentYAML, "--output", "patch")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != 2 || lines[0] != "[]" {
			t.Fatalf("patch output %q: want [] for the Service, then the Deployment's patch", out)
		}
		var ops []struct{ Op, Path string }
		if err := json.Unmarshal([]byte(lines[1]), &ops); err != nil || len(ops) == 0 {
			t.Fatalf("second line %q is not a non-empty JSON patch: %v", lines[1], err)
		}
		for _, op := range ops {
			if !strings.HasPrefix(op.Path, "/spec/template/") {
				t.Errorf("path %s is not relative to the document", op.Path)
			}
		}
	})
	t.Run("malformed document: exit 1, file and document named, nothing on stdout", func(t *testing.T) {
		code, out, stderr := runCLI(t, "", "-f", deploy, "-f", bad)
		if code != 1 || out != "" {
			t.Errorf("exit %d, stdout %q; want exit 1 and no output", code, out)
		}
		if !strings.Contains(stderr, bad+": document 2 (line 6): Pod p: not a valid pod spec") {
			t.Errorf("stderr %q does not name the file, document and problem", stderr)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.yaml")
		code, out, stderr := runCLI(t, "", "-f", deploy, "-f", missing)
		if code != 1 || out != "" || !strings.Contains(stderr, missing) {
			t.Errorf("exit %d, stdout %q, stderr %q; want exit 1 naming %s", code, out, stderr, missing)
		}
	})
	t.Run("empty input", func(t *testing.T) {
		if code, out, _ := runCLI(t, "# nothing\n"); code != 0 || out != "" {
			t.Errorf("exit %d, stdout %q; want 0 and nothing", code, out)
		}
	})
}

func TestMutateUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"help", []string{"-h"}, 0, "Usage: secure-defaults mutate"},
		{"unknown output format", []string{"--output", "json"}, 2, "--output must be yaml or patch"},
		{"positional argument", []string{"deploy.yaml"}, 2, `unexpected argument "deploy.yaml"`},
		{"stdin twice", []string{"-f", "-", "-f", "-"}, 2, "stdin (-) can be read only once"},
		{"unknown flag", []string{"--recursive"}, 2, "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := runCLI(t, deploymentYAML, tt.args...)
			if code != tt.code || out != "" || !strings.Contains(stderr, tt.msg) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, no output, and %q", code, out, stderr, tt.code, tt.msg)
			}
		})
	}
}

// TestMutateConfig runs mutate with a configuration file: a rule turned off
// there does not run, an excluded container is left alone with a warning, and
// a bad file is a usage error naming the field.
func TestMutateConfig(t *testing.T) {
	dir := t.TempDir()
	pod := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: app, image: app:1}\n  - {name: legacy, image: registry.example/legacy/x:1}\n"
	good := writeFile(t, dir, "config.yaml", "apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\nrules: {drop-all-capabilities: {enabled: false}}\nexcludeImages: [registry.example/legacy/*]\n")
	code, out, stderr := runCLI(t, pod, "--config", good)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(out, "ALL") {
		t.Errorf("drop-all-capabilities ran though turned off:\n%s", out)
	}
	if !strings.Contains(out, "runAsNonRoot: true") || !strings.Contains(stderr, `containers left without secure defaults: "legacy" (image matches excludeImages)`) {
		t.Errorf("output\n%s\nstderr %s", out, stderr)
	}
	bad := writeFile(t, dir, "bad.yaml", "apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\nrules: {nope: {}}\n")
	code, out, stderr = runCLI(t, pod, "--config", bad)
	if code != 2 || out != "" || !strings.Contains(stderr, "rules.nope: no such rule") {
		t.Errorf("bad config: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}
