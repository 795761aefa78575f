package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/secure-defaults/secure-defaults/internal/refdoc"
)

// TestFlagsMatchReference checks every flag of every command against the
// flag tables of docs/reference.md, both ways: a flag added without its
// line there, or documented but gone, fails here by name.
func TestFlagsMatchReference(t *testing.T) {
	doc, err := refdoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	flagLine := regexp.MustCompile(`(?m)^  -(\S+)`)
	for _, c := range commands() {
		if c.name == "version" {
			continue // no flags
		}
		var help bytes.Buffer
		if code := c.run(context.Background(), []string{"-h"}, IO{Out: io.Discard, Err: &help, Log: slog.New(slog.DiscardHandler)}); code != 0 {
			t.Fatalf("%s -h: exit %d: %s", c.name, code, help.String())
		}
		var have []string
		for _, m := range flagLine.FindAllStringSubmatch(help.String(), -1) {
			have = append(have, m[1])
		}
		documented, err := refdoc.Names(doc, "### `"+c.name+"`")
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		for i, d := range documented {
			documented[i] = strings.TrimLeft(d, "-")
		}
		for _, f := range have {
			if !slices.Contains(documented, f) {
				t.Errorf("%s flag -%s is not in the flag tables of %s", c.name, f, refdoc.Path)
			}
		}
		for _, d := range documented {
			if !slices.Contains(have, d) {
				t.Errorf("%s documents %s flag -%s, which %s -h does not list", refdoc.Path, c.name, d, c.name)
			}
		}
	}
}
