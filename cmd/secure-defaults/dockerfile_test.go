package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestImageHasEverySourceFile checks that every source file the binary is
// built from reaches the image's build stage: it is under a directory the
// Dockerfile COPYs and .dockerignore lets through. Without it, a new
// package outside cmd/ and pkg/ (internal/, say) would break `docker build`
// while every other test passes.
func TestImageHasEverySourceFile(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	copied := dockerfileCopies(t, filepath.Join(root, "Dockerfile"))
	ignore := readDockerignore(t, filepath.Join(root, ".dockerignore"))

	out, err := exec.Command("go", "list", "-deps", "-f",
		`{{if and .Module .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := []string{"go.mod", "go.sum"}
	for _, f := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, filepath.ToSlash(rel))
	}
	if len(files) < 10 {
		t.Fatalf("go list found only %q: not the binary's sources", files)
	}
	for _, f := range files {
		if !underAny(f, copied) {
			t.Errorf("the binary is built from %s, which no COPY of the Dockerfile's build stage brings in (COPY sources: %q)", f, copied)
		}
		if ignore.excludes(f) {
			t.Errorf("the binary is built from %s, which .dockerignore keeps out of the build context", f)
		}
	}
}

// dockerfileCopies returns the sources of the COPY instructions that take
// files from the build context (not --from another stage).
func dockerfileCopies(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var srcs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !strings.EqualFold(fields[0], "COPY") {
			continue
		}
		args := fields[1:]
		fromStage := false
		for len(args) > 0 && strings.HasPrefix(args[0], "--") {
			fromStage = fromStage || strings.HasPrefix(args[0], "--from=")
			args = args[1:]
		}
		if fromStage || len(args) < 2 {
			continue
		}
		for _, s := range args[:len(args)-1] {
			srcs = append(srcs, strings.TrimSuffix(strings.TrimPrefix(s, "./"), "/"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return srcs
}

func underAny(file string, dirs []string) bool {
	for _, d := range dirs {
		if d == "." || file == d || strings.HasPrefix(file, d+"/") {
			return true
		}
	}
	return false
}

// dockerignore is a parsed .dockerignore: patterns in order, the last that
// matches a path (or a directory above it) deciding, "!" re-including.
type dockerignore []struct {
	re      *regexp.Regexp
	include bool
}

func readDockerignore(t *testing.T, path string) dockerignore {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		t.Fatal(err)
	}
	var d dockerignore
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		include := strings.HasPrefix(line, "!")
		p := strings.Trim(strings.TrimPrefix(line, "!"), "/")
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(p); i++ {
			switch {
			case strings.HasPrefix(p[i:], "**/"):
				re.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(p[i:], "**"):
				re.WriteString(".*")
				i++
			case p[i] == '*':
				re.WriteString("[^/]*")
			case p[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(p[i : i+1]))
			}
		}
		re.WriteString("$")
		d = append(d, struct {
			re      *regexp.Regexp
			include bool
		}{regexp.MustCompile(re.String()), include})
	}
	return d
}

// excludes reports whether file stays out of the build context.
func (d dockerignore) excludes(file string) bool {
	excluded := false
	for _, p := range d {
		for prefix := file; ; {
			if p.re.MatchString(prefix) {
				excluded = !p.include
				break
			}
			i := strings.LastIndex(prefix, "/")
			if i < 0 {
				break
			}
			prefix = prefix[:i]
		}
	}
	return excluded
}
