package images

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// File is one regular file or directory of an image layer.
type File struct {
	// Path inside the image, absolute ("/probe", "/etc/passwd").
	Path string
	// Mode is the permission bits (0o755, 0o1777 for /tmp).
	Mode int64
	// Dir makes the entry a directory; Content is then ignored.
	Dir bool
	// Content of a regular file.
	Content []byte
	// UID and GID own the entry (0 when unset).
	UID, GID int
}

// Spec describes an image with one layer.
type Spec struct {
	Files      []File
	User       string
	Entrypoint []string
	Cmd        []string
	// ExposedPorts are "PORT/tcp" entries, documentation as in a Dockerfile.
	ExposedPorts []string
}

// epoch is the time stamp of every entry and of the image, so the same
// inputs give the same digest.
var epoch = time.Unix(0, 0).UTC()

// Build makes a linux image for the running architecture from spec.
func Build(spec Spec) (v1.Image, error) {
	layerBytes, err := tarLayer(spec.Files)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerBytes)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("images: layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", runtime.GOARCH, v1.Time{Time: epoch}
	cf.Config.User = spec.User
	cf.Config.Entrypoint = spec.Entrypoint
	cf.Config.Cmd = spec.Cmd
	cf.Config.Env = []string{"PATH=/"}
	if len(spec.ExposedPorts) > 0 {
		cf.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range spec.ExposedPorts {
			cf.Config.ExposedPorts[p] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return img, nil
}

// tarLayer writes files, parents first, as an uncompressed tar.
func tarLayer(files []File) ([]byte, error) {
	files = append([]File(nil), files...)
	sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if !filepath.IsAbs(f.Path) {
			return nil, fmt.Errorf("images: path %q is not absolute", f.Path)
		}
		h := &tar.Header{
			Name:    f.Path[1:],
			Mode:    f.Mode,
			Uid:     f.UID,
			Gid:     f.GID,
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		if f.Dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Content))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("images: %w", err)
		}
		if !f.Dir {
			if _, err := tw.Write(f.Content); err != nil {
				return nil, fmt.Errorf("images: %w", err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return buf.Bytes(), nil
}

// GoBuildStatic builds the main package pkg of the module in moduleDir (a
// relative path such as "./cmd/secure-defaults", or an import path) as a
// static binary (CGO_ENABLED=0, -trimpath) into outDir, with extra go build
// arguments (e.g. "-ldflags=..."), and returns its contents.
func GoBuildStatic(ctx context.Context, moduleDir, outDir, pkg string, extra ...string) ([]byte, error) {
	out := filepath.Join(outDir, filepath.Base(pkg))
	args := append([]string{"build", "-trimpath", "-o", out}, extra...)
	cmd := exec.CommandContext(ctx, "go", append(args, pkg)...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("images: go build %s: %w\n%s", pkg, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("images: %w", err)
	}
	return b, nil
}
