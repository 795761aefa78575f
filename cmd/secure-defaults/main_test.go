package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// binary is the secure-defaults binary built once for these tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "secure-defaults-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "secure-defaults")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building secure-defaults:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type run struct {
	code           int
	stdout, stderr string
}

func execute(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running %v: %v", args, err)
	}
	return run{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

const multiDoc = `# an application bundle
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: "0644"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginxinc/nginx-unprivileged:1.29
        securityContext:
          readOnlyRootFilesystem: true
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports:
  - port: 80
`

func TestMutate(t *testing.T) {
	file := filepath.Join(t.TempDir(), "app.yaml")
	if err := os.WriteFile(file, []byte(multiDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	fromFile := execute(t, "", "mutate", "-f", file)
	fromStdin := execute(t, multiDoc, "mutate")
	for name, r := range map[string]run{"file": fromFile, "stdin": fromStdin} {
		if r.code != 0 {
			t.Fatalf("mutate from %s: exit %d, stderr %q", name, r.code, r.stderr)
		}
		docs := strings.Split(r.stdout, "---\n")
		if len(docs) != 3 {
			t.Fatalf("mutate from %s wrote %d documents, want 3:\n%s", name, len(docs), r.stdout)
		}
		for i, kind := range []string{"ConfigMap", "Deployment", "Service"} {
			if !strings.Contains(docs[i], "\nkind: "+kind+"\n") {
				t.Errorf("document %d is not the %s:\n%s", i+1, kind, docs[i])
			}
		}
		for _, want := range []string{"runAsNonRoot: true", "type: RuntimeDefault", "- ALL", "allowPrivilegeEscalation: false", "mountPath: /tmp", "secure-defaults.dev/defaulted: "} {
			if !strings.Contains(docs[1], want) {
				t.Errorf("mutated Deployment lacks %q:\n%s", want, docs[1])
			}
		}
		if !strings.Contains(docs[0], `mode: "0644"`) {
			t.Errorf("ConfigMap not passed through as is:\n%s", docs[0])
		}
	}
	if fromFile.stdout != fromStdin.stdout {
		t.Errorf("file and stdin give different output")
	}
}

func TestMutatePatch(t *testing.T) {
	r := execute(t, multiDoc, "mutate", "--output", "patch")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if len(lines) != 3 || lines[0] != "[]" || lines[2] != "[]" || !strings.Contains(lines[1], `"path":"/spec/template/spec/`) {
		t.Errorf("patch output:\n%s\nwant [] for the ConfigMap and Service and the Deployment's patch under /spec/template", r.stdout)
	}
}

func TestMutateMalformed(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(good, []byte(multiDoc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("kind: ConfigMap\n---\nkind: Pod\nspec:\n  containers: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"bad YAML in a second file", "", []string{"-f", good, "-f", bad}, bad + ": document 2 (line 3): invalid YAML"},
		{"bad YAML on stdin", "kind: ConfigMap\n---\nkind: Pod\nspec:\n  containers: [\n", nil, "<stdin>: document 2 (line 3): invalid YAML"},
		{"missing file", "", []string{"-f", good, "-f", filepath.Join(dir, "missing.yaml")}, filepath.Join(dir, "missing.yaml") + ": no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := execute(t, tt.stdin, append([]string{"mutate"}, tt.args...)...)
			if r.code != 1 || r.stdout != "" || !strings.Contains(r.stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 1, no output, and %q", r.code, r.stdout, r.stderr, tt.want)
			}
		})
	}
}

func TestCommands(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"version"}, 0, "secure-defaults ", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{nil, 2, "", "Usage: secure-defaults"},
		{[]string{"mutate", "--output", "xml"}, 2, "", "--output must be yaml, normalized or patch"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := execute(t, "", tt.args...)
			if r.code != tt.code || !strings.HasPrefix(r.stdout, tt.stdout) || (tt.stdout == "" && r.stdout != "") || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit %d, stdout starting %q, stderr with %q", r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

// TestServeIdlesWithoutBurningCPU runs `serve --self-signed` and checks that
// an idle server uses (almost) no CPU: a select on a closed channel once made
// it spin a whole core for its lifetime. The bound is loose (a spinning loop
// uses about a second per second); it measures CPU time, not wall time.
func TestServeIdlesWithoutBurningCPU(t *testing.T) {
	cmd := exec.Command(binary, "serve", "--self-signed", "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	// The server prints its curl hint once it serves.
	serving := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		seen := false
		for sc.Scan() {
			if !seen && strings.Contains(sc.Text(), "curl") {
				seen = true
				close(serving)
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start within 30s")
	}
	before := cpuSeconds(t, cmd.Process.Pid)
	time.Sleep(2 * time.Second)
	used := cpuSeconds(t, cmd.Process.Pid) - before
	if used > 0.5 {
		t.Errorf("idle server used %.2fs of CPU in 2s", used)
	}
}

// cpuSeconds is the user+system CPU time of process pid, from /proc.
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Skipf("no /proc on this system: %v", err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // clock ticks; USER_HZ is 100 on Linux
}
