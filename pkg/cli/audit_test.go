package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/secure-defaults/secure-defaults/pkg/audit"
)

func auditCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	s := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	code = Run(context.Background(), append([]string{"audit"}, args...), s)
	return code, out.String(), errb.String()
}

func TestAuditUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-A", "-n", "shop"}, "-A and -n"},
		{[]string{"-o", "yaml"}, "--output must be table, wide or json"},
		{[]string{"-l", "a=(b"}, "--selector"},
		{[]string{"--fail-on", "would-change,sometimes"}, `unknown condition "sometimes"`},
		{[]string{"--chunk-size", "0"}, "--chunk-size"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--config", "/nonexistent/config.yaml"}, "config.yaml"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := auditCLI(t, tc.args...)
			if code != 2 || stdout != "" || !strings.Contains(stderr, tc.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want 2, nothing, and %q", code, stdout, stderr, tc.want)
			}
		})
	}
	code, _, stderr := auditCLI(t, "-h")
	if code != 0 || !strings.Contains(stderr, "secure-defaults-auditor") || !strings.Contains(stderr, "--fail-on") {
		t.Errorf("audit -h: exit %d, stderr %q", code, stderr)
	}
}

// TestAuditUnreachable points the audit at a port nobody listens on: exit 1
// with one clear line, nothing on stdout.
func TestAuditUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	kubeconfig := writeFile(t, t.TempDir(), "kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://%s", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: x}}]
contexts: [{name: c, context: {cluster: c, user: u, namespace: shop}}]
current-context: c
`, addr))
	start := time.Now()
	code, stdout, stderr := auditCLI(t, "--kubeconfig", kubeconfig)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "cannot reach the API server at https://"+addr) {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	t.Logf("failed in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stderr))

	code, _, stderr = auditCLI(t, "--kubeconfig", kubeconfig+".missing")
	if code != 1 || !strings.Contains(stderr, "loading the cluster configuration") {
		t.Errorf("missing kubeconfig: exit %d, stderr %q", code, stderr)
	}
}

func TestFailOn(t *testing.T) {
	rep := &audit.Report{Workloads: []audit.Workload{
		{Name: "a", Rules: []string{"run-as-non-root"}, Restricted: audit.Restricted{After: true}, Start: audit.Start{Verdict: audit.StartUnknown}},
		{Name: "b", Restricted: audit.Restricted{After: false}, Start: audit.Start{Verdict: audit.Starts}},
	}}
	for _, tc := range []struct {
		conds []string
		code  int
	}{
		{nil, 0},
		{[]string{"would-change"}, 3},
		{[]string{"fails-restricted"}, 3},
		{[]string{"would-not-start"}, 0},
	} {
		var buf bytes.Buffer
		if got := failOn(tc.conds, rep, &buf); got != tc.code {
			t.Errorf("failOn(%v) = %d, want %d (%s)", tc.conds, got, tc.code, buf.String())
		}
	}
	rep.Workloads[1].Start.Verdict = audit.WouldNotStart
	var buf bytes.Buffer
	if got := failOn([]string{"would-not-start"}, rep, &buf); got != 3 || !strings.Contains(buf.String(), "1 workload") {
		t.Errorf("failOn(would-not-start) = %d, %q", got, buf.String())
	}
}
