// Package refdoc reads docs/reference.md, the project's contract, for the
// tests that check names in the code against it: rule IDs (pkg/defaults),
// metrics (pkg/metrics) and flags (pkg/cli). It is imported by tests only.
package refdoc

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Path is the reference doc, relative to the repository root.
const Path = "docs/reference.md"

// Read returns the reference doc, found by walking up from the working
// directory to the repository root (the directory with go.mod that holds
// docs/).
func Read() ([]byte, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, Path))
		if err == nil {
			return b, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return nil, fmt.Errorf("%s not found above the working directory", Path)
		}
		dir = parent
	}
}

// Rows returns the rows of every table in the section with the given heading
// (e.g. "## Metrics" or "### `serve`"), up to the next heading of the same or
// a higher level. Each row is its cells, trimmed; header and separator rows
// are left out.
func Rows(doc []byte, heading string) ([][]string, error) {
	level := strings.IndexFunc(heading, func(r rune) bool { return r != '#' })
	if level <= 0 {
		return nil, fmt.Errorf("heading %q does not start with #", heading)
	}
	var rows [][]string
	in, found, header := false, false, false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			l := strings.IndexFunc(line, func(r rune) bool { return r != '#' })
			if line == heading {
				in, found = true, true
				continue
			}
			if in && l > 0 && l <= level {
				break
			}
			continue
		}
		if !in {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			header = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !header && isSeparator(cells):
			header = true // the row before was the header: drop it
			rows = rows[:len(rows)-1]
		default:
			rows = append(rows, cells)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("%s has no heading %q", Path, heading)
	}
	return rows, nil
}

func isSeparator(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-: ") != "" {
			return false
		}
	}
	return true
}

var code = regexp.MustCompile("`([^`]+)`")

// Names returns the code-formatted names in the first cell of every row of
// the section's tables: "`-f`, `--filename`" gives both.
func Names(doc []byte, heading string) ([]string, error) {
	rows, err := Rows(doc, heading)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, r := range rows {
		for _, m := range code.FindAllStringSubmatch(r[0], -1) {
			names = append(names, m[1])
		}
	}
	return names, nil
}

// CodeBlock returns the first fenced code block in the section with the given
// heading (up to the next heading of the same or a higher level), without its
// fences, for tests that check an example in the doc is valid.
func CodeBlock(doc []byte, heading string) (string, error) {
	level := strings.IndexFunc(heading, func(r rune) bool { return r != '#' })
	if level <= 0 {
		return "", fmt.Errorf("heading %q does not start with #", heading)
	}
	in, found, fenced := false, false, false
	var b strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case fenced && strings.HasPrefix(line, "```"):
			return b.String(), nil
		case fenced:
			b.WriteString(line + "\n")
		case strings.HasPrefix(line, "#"):
			l := strings.IndexFunc(line, func(r rune) bool { return r != '#' })
			if strings.TrimSpace(line) == heading {
				in, found = true, true
			} else if in && l > 0 && l <= level {
				return "", fmt.Errorf("%s: no code block under %q", Path, heading)
			}
		case in && strings.HasPrefix(line, "```"):
			fenced = true
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	if !found {
		return "", fmt.Errorf("%s has no heading %q", Path, heading)
	}
	return "", fmt.Errorf("%s: no complete code block under %q", Path, heading)
}
