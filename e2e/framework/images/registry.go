package images

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Registry is go-containerregistry's in-memory registry, served over plain
// HTTP on a free 127.0.0.1 port by the calling process.
type Registry struct {
	// Host is "127.0.0.1:PORT", the registry part of image references.
	Host string
	srv  *http.Server
	done chan struct{}
}

// StartRegistry starts an empty registry. Close stops it.
func StartRegistry() (*Registry, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("images: registry: %w", err)
	}
	r := &Registry{
		Host: ln.Addr().String(),
		srv: &http.Server{
			Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
			ReadHeaderTimeout: 10 * time.Second,
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(r.done)
		_ = r.srv.Serve(ln)
	}()
	return r, nil
}

// Push stores img under repoTag ("probe:nonroot") and returns the full
// reference containerd pulls ("127.0.0.1:PORT/probe:nonroot").
func (r *Registry) Push(ctx context.Context, repoTag string, img v1.Image) (string, error) {
	full := r.Host + "/" + repoTag
	ref, err := name.ParseReference(full, name.Insecure)
	if err != nil {
		return "", fmt.Errorf("images: %w", err)
	}
	if err := remote.Write(ref, img, remote.WithContext(ctx)); err != nil {
		return "", fmt.Errorf("images: push %s: %w", full, err)
	}
	return full, nil
}

// Close stops the registry.
func (r *Registry) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.srv.Shutdown(ctx)
	<-r.done
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
