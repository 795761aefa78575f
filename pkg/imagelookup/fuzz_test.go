package imagelookup

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// FuzzReadEtcFiles feeds arbitrary bytes as a layer's tar stream, above a
// layer with a good /etc/passwd: reading never panics, stays within its
// byte budget, and a file it returns is at most maxFileBytes.
func FuzzReadEtcFiles(f *testing.F) {
	seed := func(files map[string]string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for name, body := range files {
			_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
			_, _ = io.WriteString(tw, body)
		}
		_ = tw.Close()
		return buf.Bytes()
	}
	f.Add(seed(map[string]string{"etc/passwd": "app:x:1000:1000::/:\n"}))
	f.Add(seed(map[string]string{"etc/.wh.passwd": ""}))
	f.Add(seed(map[string]string{"etc/.wh..wh..opq": "", "etc/group": "staff:x:50:\n"}))
	f.Add(seed(map[string]string{"./etc/../etc/passwd": "x"}))
	f.Add([]byte("not a tar stream"))
	lower, err := layerOf(seed(map[string]string{"etc/passwd": "app:x:1000:1000::/:\n", "etc/group": "staff:x:50:\n"}))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		upper, err := layerOf(data)
		if err != nil {
			t.Skip()
		}
		budget := byteBudget{compressed: 1 << 20, uncompressed: 1 << 20}
		passwd, group, err := readEtcFiles([]v1Layer{lower, upper}, true, true, budget)
		if err != nil {
			return
		}
		if len(passwd) > maxFileBytes || len(group) > maxFileBytes {
			t.Fatalf("files of %d and %d bytes", len(passwd), len(group))
		}
		_ = decide("app:staff", passwd, group, nil)
	})
}

// FuzzDecide: any user string and files give a verdict, never a panic, and
// a pin is never root.
func FuzzDecide(f *testing.F) {
	f.Add("app", []byte("app:x:1000:1000::/:\n"), []byte("staff:x:50:\n"))
	f.Add("app:staff", []byte("app:x:0:0::/:\n"), []byte(""))
	f.Add("1000:1000", []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, user string, passwd, group []byte) {
		got := decide(user, passwd, group, nil)
		switch got.Verdict {
		case VerdictPin:
			if got.UID == nil || *got.UID <= 0 {
				t.Fatalf("pin of %v for %q", got.UID, user)
			}
		case VerdictRoot, VerdictNonRoot:
		default:
			t.Fatalf("verdict %q", got.Verdict)
		}
	})
}

// FuzzParseDockerConfig: malformed credentials files give an error, never a
// panic, and the error never quotes the input.
func FuzzParseDockerConfig(f *testing.F) {
	f.Add([]byte(`{"auths":{"r.example":{"auth":"dTpw"}}}`))
	f.Add([]byte(`{"r.example":{"auth":"dTpw"}}`))
	f.Add([]byte(`{"auths":{"r.example":{"auth":"!!secret!!"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseDockerConfig(data)
		if err != nil && len(data) >= 8 && bytes.Contains([]byte(err.Error()), data) {
			t.Fatalf("the error quotes the input: %v", err)
		}
	})
}

func layerOf(b []byte) (v1Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}
