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
		if code, out, _ := runCLI(t, "", "--output", "normalized"); code != 0 || out != "" {
			t.Errorf("normalized: exit %d, stdout %q; want 0 and nothing", code, out)
		}
		if code, out, _ := runCLI(t, "# nothing\n"); code != 0 || out != "# nothing\n" {
			t.Errorf("yaml: exit %d, stdout %q; want 0 and the comment back", code, out)
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
		{"unknown output format", []string{"--output", "json"}, 2, "--output must be yaml, normalized or patch"},
		{"in-place and check", []string{"-f", "x.yaml", "--in-place", "--check"}, 2, "exclude each other"},
		{"in-place on stdin", []string{"--in-place"}, 2, "--in-place needs files"},
		{"check with patch output", []string{"--check", "-o", "patch"}, 2, "use --output yaml or normalized"},
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

// commentedDeployment is a tutorial-style manifest: comments, keys in the
// author's order, indented lists.
const commentedDeployment = `# The web tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # shown in kubectl get
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      # Run all containers as this non-root user
      securityContext:
        runAsUser: 1000
      containers:
        - name: web
          image: example/web:1
          # Listen on an unprivileged port.
          ports:
            - containerPort: 8080
`

// commentedDeploymentDefaulted is commentedDeployment as mutate writes it:
// the same lines, plus the defaults.
const commentedDeploymentDefaulted = `# The web tier.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # shown in kubectl get
spec:
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
      annotations:
        secure-defaults.dev/defaulted: drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default
    spec:
      # Run all containers as this non-root user
      securityContext:
        runAsUser: 1000
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
        - name: web
          image: example/web:1
          # Listen on an unprivileged port.
          ports:
            - containerPort: 8080
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              drop:
                - ALL
`

func TestMutateKeepsTheFile(t *testing.T) {
	code, out, stderr := runCLI(t, commentedDeployment)
	if code != 0 || out != commentedDeploymentDefaulted {
		t.Errorf("exit %d (stderr %q), output:\n%s\nwant:\n%s", code, stderr, out, commentedDeploymentDefaulted)
	}
	code, out, _ = runCLI(t, commentedDeployment, "--output", "normalized")
	if code != 0 || strings.Contains(out, "#") || !strings.HasPrefix(out, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n") {
		t.Errorf("normalized output keeps comments or key order:\n%s", out)
	}
}

func TestMutateCheck(t *testing.T) {
	dir := t.TempDir()
	deploy := writeFile(t, dir, "deploy.yaml", commentedDeployment)
	svc := writeFile(t, dir, "svc.yaml", serviceYAML)

	code, out, stderr := runCLI(t, "", "--check", "-f", svc, "-f", deploy)
	if code != exitWouldChange {
		t.Fatalf("exit %d (stderr %q), want %d when a file would change", code, stderr, exitWouldChange)
	}
	// What diff -u prints for the two texts.
	want := "--- " + deploy + "\n+++ " + deploy + "\n" + `@@ -11,13 +11,23 @@
     metadata:
       labels:
         app: web
+      annotations:
+        secure-defaults.dev/defaulted: drop-all-capabilities,no-privilege-escalation,run-as-non-root,seccomp-runtime-default
     spec:
       # Run all containers as this non-root user
       securityContext:
         runAsUser: 1000
+        runAsNonRoot: true
+        seccompProfile:
+          type: RuntimeDefault
       containers:
         - name: web
           image: example/web:1
           # Listen on an unprivileged port.
           ports:
             - containerPort: 8080
+          securityContext:
+            allowPrivilegeEscalation: false
+            capabilities:
+              drop:
+                - ALL
`
	if out != want {
		t.Errorf("diff:\n%s\nwant:\n%s", out, want)
	}
	if b, _ := os.ReadFile(deploy); string(b) != commentedDeployment {
		t.Errorf("--check changed the file")
	}
	if code, out, stderr := runCLI(t, "", "--check", "-f", svc); code != 0 || out != "" {
		t.Errorf("a file that needs nothing: exit %d, stdout %q, stderr %q; want 0 and no diff", code, out, stderr)
	}
	// A second pass over the mutated file finds nothing to do.
	done := writeFile(t, dir, "done.yaml", commentedDeploymentDefaulted)
	if code, out, _ := runCLI(t, "", "--check", "-f", done); code != 0 || out != "" {
		t.Errorf("mutated file: exit %d, diff %q; want 0 and nothing", code, out)
	}
}

func TestMutateInPlace(t *testing.T) {
	dir := t.TempDir()
	deploy := writeFile(t, dir, "deploy.yaml", commentedDeployment)
	svc := writeFile(t, dir, "svc.yaml", serviceYAML)
	before, err := os.Stat(svc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(deploy, 0o640); err != nil {
		t.Fatal(err)
	}

	code, out, stderr := runCLI(t, "", "--in-place", "-f", deploy, "-f", svc)
	if code != 0 || out != deploy+"\n" {
		t.Fatalf("exit %d, stdout %q (stderr %q); want 0 and the changed file's name", code, out, stderr)
	}
	if b, _ := os.ReadFile(deploy); string(b) != commentedDeploymentDefaulted {
		t.Errorf("file after --in-place:\n%s", b)
	}
	if info, err := os.Stat(deploy); err != nil || info.Mode().Perm() != 0o640 {
		t.Errorf("mode after --in-place: %v, %v; want 0640 kept", info.Mode(), err)
	}
	if after, err := os.Stat(svc); err != nil || !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("an unchanged file was rewritten")
	}
	assertNoTempFiles(t, dir, 2)

	// A symbolic link stays a link; the file it points to gets the defaults.
	linked := writeFile(t, dir, "linked.yaml", commentedDeployment)
	link := filepath.Join(dir, "link.yaml")
	if err := os.Symlink("linked.yaml", link); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "", "--in-place", "-f", link); code != 0 || out != link+"\n" {
		t.Fatalf("through a link: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file")
	}
	if b, _ := os.ReadFile(linked); string(b) != commentedDeploymentDefaulted {
		t.Errorf("the linked file did not get the defaults:\n%s", b)
	}
	for _, f := range []string{link, linked} {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}

	// A malformed file anywhere: nothing is written.
	other := writeFile(t, dir, "other.yaml", commentedDeployment)
	bad := writeFile(t, dir, "bad.yaml", "kind: Pod\nspec: {containers: nope}\n")
	if code, _, _ := runCLI(t, "", "--in-place", "-f", other, "-f", bad); code != 1 {
		t.Errorf("exit %d with a malformed file, want 1", code)
	}
	if b, _ := os.ReadFile(other); string(b) != commentedDeployment {
		t.Errorf("a file was written although another was malformed")
	}
}

func TestMutateInPlaceRefuses(t *testing.T) {
	t.Run("read-only file", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "deploy.yaml", commentedDeployment)
		if err := os.Chmod(p, 0o444); err != nil {
			t.Fatal(err)
		}
		code, out, stderr := runCLI(t, "", "--in-place", "-f", p)
		if code != 1 || out != "" || !strings.Contains(stderr, p+": file is read-only; not written") {
			t.Errorf("exit %d, stdout %q, stderr %q; want 1 and a message naming the read-only file", code, out, stderr)
		}
		if b, _ := os.ReadFile(p); string(b) != commentedDeployment {
			t.Errorf("read-only file changed")
		}
		assertNoTempFiles(t, dir, 1)
	})
	t.Run("file vanishes after it was read", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "deploy.yaml", commentedDeployment)
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		err := replaceFile(p, []byte(commentedDeployment), []byte(commentedDeploymentDefaulted))
		if err == nil || !strings.Contains(err.Error(), p+": vanished while being mutated; not written") {
			t.Errorf("replaceFile on a vanished file: %v", err)
		}
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("the vanished file was recreated")
		}
		assertNoTempFiles(t, dir, 0)
	})
	t.Run("the same file twice", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "deploy.yaml", commentedDeployment)
		code, _, stderr := runCLI(t, "", "--in-place", "-f", p, "-f", filepath.Join(dir, ".", "deploy.yaml"))
		if code != 2 || !strings.Contains(stderr, "is given twice") {
			t.Errorf("exit %d, stderr %q; want 2 and a message", code, stderr)
		}
	})
	t.Run("file changed after it was read", func(t *testing.T) {
		dir := t.TempDir()
		p := writeFile(t, dir, "deploy.yaml", "# edited meanwhile\n"+commentedDeployment)
		err := replaceFile(p, []byte(commentedDeployment), []byte(commentedDeploymentDefaulted))
		if err == nil || !strings.Contains(err.Error(), "changed while being mutated") {
			t.Errorf("replaceFile on a changed file: %v", err)
		}
		if b, _ := os.ReadFile(p); string(b) != "# edited meanwhile\n"+commentedDeployment {
			t.Errorf("the changed file was overwritten")
		}
		assertNoTempFiles(t, dir, 1)
	})
}

func assertNoTempFiles(t *testing.T, dir string, want int) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != want {
		t.Errorf("directory holds %v, want %d files and no temporary file", names, want)
	}
}

// TestReadmeShowsCheckDiff keeps the diffs the README shows in step with
// what mutate --check prints for the examples. UPDATE_GOLDEN=1 rewrites them
// (make golden), for review in the diff like every golden file.
func TestReadmeShowsCheckDiff(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const marker = "<!-- mutate --check -f "
	text := string(readme)
	var out strings.Builder
	found := 0
	for {
		i := strings.Index(text, marker)
		if i < 0 {
			out.WriteString(text)
			break
		}
		rest := text[i+len(marker):]
		end := strings.Index(rest, " -->\n```diff\n")
		closing := strings.Index(rest, "\n```\n")
		if end < 0 || closing < end {
			t.Fatalf("README: %s... is not followed by a diff block", text[i:min(len(text), i+80)])
		}
		file := rest[:end]
		code, diff, stderr := runCLI(t, "", "--check", "-f", file)
		if code != exitWouldChange || diff == "" {
			t.Fatalf("mutate --check -f %s: exit %d, stderr %q", file, code, stderr)
		}
		shown := rest[end+len(" -->\n```diff\n") : closing+1]
		if shown != diff {
			if !updateGolden {
				t.Errorf("README shows for %s:\n%s\nmutate --check prints:\n%s(rerun with UPDATE_GOLDEN=1)", file, shown, diff)
			}
		}
		out.WriteString(text[:i+len(marker)] + file + " -->\n```diff\n" + diff)
		text = rest[closing+1:]
		found++
	}
	if found < 2 {
		t.Errorf("README shows %d mutate --check diffs, want the example's and the tutorial's", found)
	}
	if updateGolden && out.String() != string(readme) {
		if err := os.WriteFile("README.md", []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""
