package cli

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExportCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte("apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\nrules:\n  tmp-emptydir: {enabled: false}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: Nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err []string // substrings
		notOut   []string
	}{
		{name: "shipped", args: []string{"mutating-admission-policy"}, code: 0,
			out: []string{"kind: MutatingAdmissionPolicy\n", "kind: MutatingAdmissionPolicyBinding\n", "name: secure-defaults\n", "tmp-emptydir", "# Differences from the webhook:"}},
		{name: "flags after the argument", args: []string{"mutating-admission-policy", "--name", "team", "--config", cfg}, code: 0,
			out: []string{"name: team\n", "policyName: team\n"}, notOut: []string{"tmp-emptydir", "  name: secure-defaults\n"}},
		{name: "flags before the argument", args: []string{"--name=team", "mutating-admission-policy"}, code: 0, out: []string{"policyName: team\n"}},
		{name: "no argument", args: nil, code: 2, err: []string{"want one argument"}},
		{name: "unknown kind", args: []string{"validating-admission-policy"}, code: 2, err: []string{"want one argument"}},
		{name: "bad name", args: []string{"mutating-admission-policy", "--name", "A_B"}, code: 2, err: []string{`policy name "A_B"`}},
		{name: "bad config", args: []string{"mutating-admission-policy", "--config", bad}, code: 2, err: []string{"bad.yaml"}},
		{name: "help", args: []string{"-h"}, code: 0, err: []string{"Usage: secure-defaults export mutating-admission-policy"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(context.Background(), append([]string{"export"}, tc.args...), IO{Out: &out, Err: &errOut, Log: slog.New(slog.DiscardHandler)})
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, errOut.String())
			}
			for _, s := range tc.out {
				if !strings.Contains(out.String(), s) {
					t.Errorf("stdout lacks %q", s)
				}
			}
			for _, s := range tc.notOut {
				if strings.Contains(out.String(), s) {
					t.Errorf("stdout has %q", s)
				}
			}
			for _, s := range tc.err {
				if !strings.Contains(errOut.String(), s) {
					t.Errorf("stderr lacks %q: %s", s, errOut.String())
				}
			}
		})
	}
}
