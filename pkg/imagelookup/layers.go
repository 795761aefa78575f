package imagelookup

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxFileBytes bounds one /etc/passwd or /etc/group: a larger one is refused.
const maxFileBytes = 1 << 20

// ErrTooLarge is wrapped by lookups that would read more than the configured
// limits: the image's files are not read past them.
var ErrTooLarge = errors.New("over the lookup's byte limit")

// Whiteout markers of the OCI image layout: a file ".wh.NAME" removes NAME of
// lower layers; ".wh..wh..opq" in a directory hides everything lower layers
// put in it.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// errNotRegular: the file looked for is a link or a directory; its target
// is not followed.
var errNotRegular = errors.New("not a regular file in the image")

const (
	etcPasswd = "etc/passwd"
	etcGroup  = "etc/group"
)

// byteBudget is what a lookup may still read from layers: compressed bytes
// as served by the registry and uncompressed bytes out of the tar streams.
type byteBudget struct {
	compressed, uncompressed int64
}

// etcFile is one file looked for through the layers.
type etcFile struct {
	name    string
	want    bool
	done    bool
	content []byte // nil: the image has no such file
}

// readEtcFiles reads /etc/passwd (if wantPasswd) and /etc/group (if
// wantGroup) as the container would see them: layers are read from the top
// down, the first layer that has the file wins, and a whiteout of the file
// or of /etc, or an opaque /etc, in a higher layer means it is absent. A file
// that is absent comes back nil. Reading stops at budget.
func readEtcFiles(layers []v1.Layer, wantPasswd, wantGroup bool, budget byteBudget) (passwd, group []byte, err error) {
	files := []*etcFile{{name: etcPasswd, want: wantPasswd}, {name: etcGroup, want: wantGroup}}
	for i := len(layers) - 1; i >= 0 && pending(files); i-- {
		if err := scanLayer(layers[i], files, &budget); err != nil {
			return nil, nil, fmt.Errorf("layer %d of %d: %w", i+1, len(layers), err)
		}
	}
	return files[0].content, files[1].content, nil
}

func pending(files []*etcFile) bool {
	for _, f := range files {
		if f.want && !f.done {
			return true
		}
	}
	return false
}

// scanLayer reads one layer's tar stream and settles every pending file it
// has, or whites out. It stops reading once every pending file is found.
func scanLayer(l v1.Layer, files []*etcFile, budget *byteBudget) error {
	size, err := l.Size()
	if err != nil {
		return err
	}
	if size > budget.compressed {
		return fmt.Errorf("%w: the layer is %d bytes compressed, %d left of the limit", ErrTooLarge, size, budget.compressed)
	}
	budget.compressed -= size
	rc, err := l.Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	limited := &io.LimitedReader{R: rc, N: budget.uncompressed + 1}
	defer func() { budget.uncompressed = max(limited.N-1, 0) }()

	hidden := map[string]bool{} // files of lower layers this layer hides
	found := map[string]bool{}
	tr := tar.NewReader(limited)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if limited.N <= 0 {
				return fmt.Errorf("%w: more than %d bytes uncompressed", ErrTooLarge, budget.uncompressed)
			}
			return fmt.Errorf("reading the layer: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+hdr.Name), "/")
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		switch {
		case base == opaqueMarker:
			hidden[dir+"/"] = true
		case strings.HasPrefix(base, whiteoutPrefix):
			hidden[path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))] = true
		case name == "etc" && hdr.Typeflag != tar.TypeDir:
			hidden["etc"] = true // /etc replaced by a file or link
		}
		for _, f := range files {
			if !f.want || f.done || name != f.name {
				continue
			}
			if hdr.Typeflag != tar.TypeReg {
				return fmt.Errorf("/%s: %w", f.name, errNotRegular)
			}
			if hdr.Size > maxFileBytes {
				return fmt.Errorf("%w: /%s is %d bytes, more than %d", ErrTooLarge, f.name, hdr.Size, maxFileBytes)
			}
			b, err := io.ReadAll(io.LimitReader(tr, maxFileBytes))
			if err != nil {
				return fmt.Errorf("reading /%s: %w", f.name, err)
			}
			f.content = b
			found[f.name] = true
		}
		if allFound(files, found) {
			break
		}
	}
	for _, f := range files {
		if !f.want || f.done {
			continue
		}
		if found[f.name] {
			f.done = true
			continue
		}
		if hidden[f.name] || hidden["etc"] || hidden["etc/"] {
			f.done, f.content = true, nil
		}
	}
	return nil
}

// allFound reports whether every pending file was found in this layer.
func allFound(files []*etcFile, found map[string]bool) bool {
	for _, f := range files {
		if f.want && !f.done && !found[f.name] {
			return false
		}
	}
	return true
}

// v1Layer is a layer of an image.
type v1Layer = v1.Layer
