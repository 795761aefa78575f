package refdoc

import (
	"slices"
	"testing"
)

const sample = "# Title\n\n## Rules\n\nText.\n\n| ID | What |\n|---|---|\n| `a-rule` | sets a |\n| `b-rule` | sets `b` |\n\n### Sub\n\n| Flag | Default |\n|---|---|\n| `-f`, `--file` | |\n\n## Metrics\n\n| Name |\n|---|\n| `m_total` |\n"

func TestNames(t *testing.T) {
	for heading, want := range map[string][]string{
		"## Rules":   {"a-rule", "b-rule", "-f", "--file"},
		"### Sub":    {"-f", "--file"},
		"## Metrics": {"m_total"},
	} {
		got, err := Names([]byte(sample), heading)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("Names(%q) = %q, want %q", heading, got, want)
		}
	}
	if _, err := Names([]byte(sample), "## Missing"); err == nil {
		t.Error("Names of a missing heading gave no error")
	}
}

func TestReadFindsTheReference(t *testing.T) {
	doc, err := Read()
	if err != nil {
		t.Fatal(err)
	}
	if names, err := Names(doc, "## Metrics"); err != nil || len(names) == 0 {
		t.Errorf("the reference doc's metrics table: %q, %v", names, err)
	}
}

func TestCodeBlock(t *testing.T) {
	doc := []byte("## A\n\ntext\n\n```yaml\nk: v\nl: w\n```\n\n## B\n\nno block\n\n## C\n```\nunclosed\n")
	if got, err := CodeBlock(doc, "## A"); err != nil || got != "k: v\nl: w\n" {
		t.Errorf("CodeBlock(## A) = %q, %v", got, err)
	}
	for _, h := range []string{"## B", "## C", "## D"} {
		if got, err := CodeBlock(doc, h); err == nil {
			t.Errorf("CodeBlock(%s) = %q, want an error", h, got)
		}
	}
}
