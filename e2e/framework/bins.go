package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// BinsEnv names the environment variable holding the directory with the
// kube-apiserver, etcd and kubectl binaries (the output of hack/e2e-bins.sh).
const BinsEnv = "SECURE_DEFAULTS_E2E_BINS"

// binaries every control plane needs in the bins directory.
var requiredBins = []string{"etcd", "kube-apiserver"}

// BinDir returns the directory holding kube-apiserver and etcd: $BinsEnv when
// set, otherwise the output of hack/e2e-bins.sh, which builds them on first
// use (minutes; run it before `go test` so the test timeout does not cover
// the build). Cancelling ctx stops the build.
func BinDir(ctx context.Context) (string, error) {
	dir := os.Getenv(BinsEnv)
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "e2e-bins.sh"))
		cmd.Stderr = os.Stderr
		// On cancellation stop the go build under the script too, not
		// just the shell; the script leaves no half-built binary.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("framework: hack/e2e-bins.sh: %w", err)
		}
		dir = strings.TrimSpace(string(out))
	}
	for _, name := range requiredBins {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			return "", fmt.Errorf("framework: %s missing from %s (set %s to the output of hack/e2e-bins.sh): %w", name, dir, BinsEnv, err)
		}
		if st.Mode()&0o111 == 0 {
			return "", fmt.Errorf("framework: %s in %s is not executable", name, dir)
		}
	}
	return dir, nil
}

// RepoRoot returns the repository's root: the closest directory at or above
// the working directory that holds hack/e2e-bins.sh.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("framework: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "e2e-bins.sh")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("framework: repository root (with hack/e2e-bins.sh) not found above the working directory")
		}
		dir = parent
	}
}

// GoBuild builds the main package pkg (a path relative to the repository
// root such as "./cmd/secure-defaults", or an import path) into outDir and
// returns the binary's path. Use it in TestMain to test the real binary.
func GoBuild(ctx context.Context, outDir, pkg string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("framework: go build %s: %w\n%s", pkg, err, stderr.String())
	}
	return out, nil
}
