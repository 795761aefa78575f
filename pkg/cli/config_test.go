package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
)

// TestConfigFlagRefusesABadFile: every command that takes --config loads it
// the same way: a file that does not load is a usage error (exit 2) that
// names the file and the command, and nothing is written to stdout; a
// missing file likewise.
func TestConfigFlagRefusesABadFile(t *testing.T) {
	dir := t.TempDir()
	bad := writeFile(t, dir, "bad.yaml", "apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\nrules: {nope: {}}\n")
	missing := dir + "/missing.yaml"
	for _, tc := range []struct{ cmd, file, want string }{
		{"mutate", bad, "bad.yaml"},
		{"audit", bad, "bad.yaml"},
		{"export", bad, "bad.yaml"},
		{"mutate", missing, "missing.yaml"},
		{"audit", missing, "missing.yaml"},
		{"export", missing, "missing.yaml"},
	} {
		t.Run(tc.cmd+"/"+tc.want, func(t *testing.T) {
			args := []string{tc.cmd, "--config", tc.file}
			if tc.cmd == "export" {
				args = append(args, "mutating-admission-policy")
			}
			var out, errb bytes.Buffer
			s := IO{In: strings.NewReader(""), Out: &out, Err: &errb, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			code := Run(context.Background(), args, s)
			if code != 2 || out.Len() != 0 {
				t.Fatalf("exit %d, stdout %q, want 2 and nothing", code, out.String())
			}
			if msg := errb.String(); !strings.Contains(msg, "secure-defaults "+tc.cmd+":") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q, want the command and %s named", msg, tc.want)
			}
		})
	}
}
