package imagelookuptest

import (
	"archive/tar"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry is a registry on 127.0.0.1, over TLS unless WithoutTLS.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	// Transport trusts the registry's certificate.
	Transport http.RoundTripper
	server    *httptest.Server
	username  string
	password  string
	plain     bool

	mu    sync.Mutex
	gate  func(*http.Request) (status int, stall bool)
	stall chan struct{}

	// Requests counts the requests that reached the registry;
	// ManifestRequests those for manifests; BlobBytes the bytes of blobs
	// it sent.
	Requests, ManifestRequests, BlobBytes atomic.Int64
}

// Option changes a Registry made by New.
type Option func(*Registry)

// WithBasicAuth makes the registry answer 401 to requests without these
// credentials.
func WithBasicAuth(username, password string) Option {
	return func(r *Registry) { r.username, r.password = username, password }
}

// WithoutTLS serves plain HTTP, which clients use for loopback registries
// without being told: for tests of code that builds its own transport.
func WithoutTLS() Option { return func(r *Registry) { r.plain = true } }

// New starts a registry, stopped at the end of the test.
func New(tb testing.TB, opts ...Option) *Registry {
	tb.Helper()
	r := &Registry{stall: make(chan struct{})}
	for _, o := range opts {
		o(r)
	}
	reg := registry.New(registry.Logger(nopLogger()))
	r.server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Requests.Add(1)
		if strings.Contains(req.URL.Path, "/manifests/") && req.Method == http.MethodGet {
			r.ManifestRequests.Add(1)
		}
		r.mu.Lock()
		gate := r.gate
		r.mu.Unlock()
		if gate != nil {
			status, stall := gate(req)
			if stall {
				select {
				case <-r.stall:
				case <-req.Context().Done():
				}
				return
			}
			if status != 0 {
				http.Error(w, http.StatusText(status), status)
				return
			}
		}
		if r.username != "" {
			u, p, ok := req.BasicAuth()
			if !ok || u != r.username || p != r.password {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		if strings.Contains(req.URL.Path, "/blobs/") {
			w = &countingWriter{ResponseWriter: w, n: &r.BlobBytes}
		}
		reg.ServeHTTP(w, req)
	}))
	// Clients probe plain HTTP on loopback after HTTPS; the server's
	// complaints about it are noise.
	r.server.Config.ErrorLog = nopLogger()
	if r.plain {
		r.server.Start()
	} else {
		r.server.StartTLS()
	}
	tb.Cleanup(func() {
		close(r.stall)
		r.server.Close()
	})
	r.Host = strings.TrimPrefix(strings.TrimPrefix(r.server.URL, "https://"), "http://")
	r.Transport = r.server.Client().Transport
	return r
}

// Gate makes every later request pass through f first: a non-zero status is
// answered as is, stall holds the request until the client gives up or the
// test ends. nil removes the gate.
func (r *Registry) Gate(f func(*http.Request) (status int, stall bool)) {
	r.mu.Lock()
	r.gate = f
	r.mu.Unlock()
}

// Push pushes img (an image or an index) as r.Host/repo:tag and returns the
// reference by digest.
func (r *Registry) Push(tb testing.TB, repo, tag string, img remote.Taggable) string {
	tb.Helper()
	ref, err := name.NewTag(r.Host + "/" + repo + ":" + tag)
	if err != nil {
		tb.Fatal(err)
	}
	opts := []remote.Option{remote.WithTransport(r.Transport)}
	if r.username != "" {
		opts = append(opts, remote.WithAuth(&basicAuth{r.username, r.password}))
	}
	var digest v1.Hash
	switch img := img.(type) {
	case v1.ImageIndex:
		err = remote.WriteIndex(ref, img, opts...)
		if err == nil {
			digest, err = img.Digest()
		}
	case v1.Image:
		err = remote.Write(ref, img, opts...)
		if err == nil {
			digest, err = img.Digest()
		}
	default:
		tb.Fatalf("cannot push a %T", img)
	}
	if err != nil {
		tb.Fatalf("pushing %s: %v", ref, err)
	}
	return r.Host + "/" + repo + "@" + digest.String()
}

// Image returns an image whose config runs as user, with one layer per
// element of layers, bottom first. A layer maps paths to contents; a path
// ending in "/" is a directory, and whiteouts are written as files
// (".wh.NAME", ".wh..wh..opq").
func Image(tb testing.TB, user string, layers ...map[string]string) v1.Image {
	tb.Helper()
	img := empty.Image
	for _, files := range layers {
		l, err := Layer(files)
		if err != nil {
			tb.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			tb.Fatal(err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = user
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		tb.Fatal(err)
	}
	return img
}

// Layer returns a gzip-compressed layer with files, in sorted order.
func Layer(files map[string]string) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range sortedKeys(files) {
		hdr := &tar.Header{Name: p, Mode: 0o644, Size: int64(len(files[p])), Typeflag: tar.TypeReg}
		if strings.HasSuffix(p, "/") {
			hdr = &tar.Header{Name: p, Mode: 0o755, Typeflag: tar.TypeDir}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := io.WriteString(tw, files[p]); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

// Index returns a multi-platform index of images, each entry labelled with
// the platform ("os/arch") of the same position in platforms.
func Index(tb testing.TB, platforms []string, images ...v1.Image) v1.ImageIndex {
	tb.Helper()
	idx := v1.ImageIndex(empty.Index)
	for i, img := range images {
		p, err := v1.ParsePlatform(platforms[i])
		if err != nil {
			tb.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	return idx
}

// Passwd is an /etc/passwd with root and the given "name:uid:gid" users.
func Passwd(users ...string) string {
	s := "root:x:0:0:root:/root:/bin/sh\n"
	for _, u := range users {
		f := strings.SplitN(u, ":", 3)
		s += f[0] + ":x:" + f[1] + ":" + f[2] + "::/home/" + f[0] + ":/sbin/nologin\n"
	}
	return s
}
