package images

import (
	"archive/tar"
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestBuildPushPull pushes an image to the in-process registry and pulls it
// back over HTTP: the config and the layer are what the spec said.
func TestBuildPushPull(t *testing.T) {
	tests := []struct {
		name  string
		tweak func(*Spec)
		user  string
		files map[string]int64 // path in the tar -> mode
	}{
		{"numeric user", func(s *Spec) { s.User = "65532" }, "65532", map[string]int64{"bin": 0o755, "tmp/": 0o1777}},
		{"no user", func(s *Spec) { s.User = "" }, "", map[string]int64{"bin": 0o755, "tmp/": 0o1777}},
		{"named user with passwd", func(s *Spec) {
			s.User = "app"
			s.Files = append(s.Files, File{Path: "/etc", Dir: true, Mode: 0o755}, File{Path: "/etc/passwd", Mode: 0o644, Content: []byte("app:x:1000:1000::/:/bin\n")})
		}, "app", map[string]int64{"bin": 0o755, "tmp/": 0o1777, "etc/": 0o755, "etc/passwd": 0o644}},
	}
	reg, err := StartRegistry()
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := Spec{
				Files:      []File{{Path: "/bin", Mode: 0o755, Content: []byte("#!")}, {Path: "/tmp", Dir: true, Mode: 0o1777}},
				Entrypoint: []string{"/bin"},
			}
			tc.tweak(&spec)
			img, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := reg.Push(context.Background(), "test:"+map[string]string{"65532": "a", "": "b", "app": "c"}[tc.user], img)
			if err != nil {
				t.Fatal(err)
			}
			r, err := name.ParseReference(ref, name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			got, err := remote.Image(r)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := got.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Config.User != tc.user || cf.OS != "linux" || len(cf.Config.Entrypoint) != 1 {
				t.Errorf("config: user %q os %q entrypoint %v", cf.Config.User, cf.OS, cf.Config.Entrypoint)
			}
			layers, err := got.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers: %d, %v", len(layers), err)
			}
			rc, err := layers[0].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			seen := map[string]int64{}
			tr := tar.NewReader(rc)
			for {
				h, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				seen[h.Name] = h.Mode
			}
			if len(seen) != len(tc.files) {
				t.Errorf("layer holds %v, want %v", seen, tc.files)
			}
			for p, mode := range tc.files {
				if seen[p] != mode {
					t.Errorf("%s: mode %o, want %o (layer %v)", p, seen[p], mode, seen)
				}
			}
		})
	}
}

func TestParseReport(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		wantErr bool
		uid     int
	}{
		{"report line", "noise\nprobe: {\"uid\":65532,\"capEff\":\"0000000000000000\",\"seccomp\":\"2\"}\n", false, 65532},
		{"no report", "nothing here\n", true, 0},
		{"broken json", "probe: {\"uid\":\n", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := ParseReport([]byte(tc.log))
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if err == nil && (r.UID != tc.uid || r.String() == "") {
				t.Errorf("report %+v", r)
			}
		})
	}
}

// TestReportMatchesProbe checks that the probe command's copy of Report has
// the same JSON fields, of the same Go types, as this package's, so that what
// the probe prints decodes whole.
func TestReportMatchesProbe(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "probe/main.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var probe []string
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Report" {
			return true
		}
		for _, field := range ts.Type.(*ast.StructType).Fields.List {
			tag, err := strconv.Unquote(field.Tag.Value)
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range field.Names {
				probe = append(probe, name.Name+" "+types.ExprString(field.Type)+" "+reflect.StructTag(tag).Get("json"))
			}
		}
		return false
	})
	var ours []string
	rt := reflect.TypeFor[Report]()
	for i := range rt.NumField() {
		sf := rt.Field(i)
		ours = append(ours, sf.Name+" "+sf.Type.String()+" "+sf.Tag.Get("json"))
	}
	if len(probe) == 0 || !slices.Equal(probe, ours) {
		t.Errorf("probe's Report fields\n%q\nwant images.Report's\n%q", probe, ours)
	}
}
