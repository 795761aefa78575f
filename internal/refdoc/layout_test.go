package refdoc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeLayoutListsEveryPackage holds the layout table of README.md
// ("## Development") to the tree: every directory of pkg/ has its row, every
// one of internal/ is named in the internal/ row, and every row names a path
// that exists.
func TestReadmeLayoutListsEveryPackage(t *testing.T) {
	readme, err := ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := Rows(readme, "## Development")
	if err != nil {
		t.Fatal(err)
	}
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]string{}
	for _, r := range rows {
		path := strings.Trim(r[0], "`")
		listed[strings.TrimSuffix(path, "/")] = r[1]
		if _, err := os.Stat(filepath.Join(root, path)); err != nil {
			t.Errorf("README layout names %s, which does not exist", path)
		}
	}
	for _, dir := range []string{"pkg", "internal"} {
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if !e.IsDir() {
				continue
			}
			switch dir {
			case "pkg":
				if _, ok := listed["pkg/"+e.Name()]; !ok {
					t.Errorf("README layout has no row for pkg/%s", e.Name())
				}
			case "internal":
				if !strings.Contains(listed["internal"], "`"+e.Name()+"`") {
					t.Errorf("README layout's internal/ row does not name %s", e.Name())
				}
			}
		}
	}
}

// repoRoot returns the directory ReadFile finds README.md in.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "README.md")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
