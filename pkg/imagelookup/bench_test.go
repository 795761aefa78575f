package imagelookup_test

import (
	"context"
	"testing"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// BenchmarkLookupCold is one lookup with an empty cache on the loopback
// registry: the manifest, the config and, for a user name, the layer with
// /etc/passwd.
func BenchmarkLookupCold(b *testing.B) {
	reg := ilt.New(b)
	images := map[string]string{
		"numeric":   reg.Push(b, "numeric", "v1", ilt.Image(b, "65532")),
		"user-name": reg.Push(b, "named", "v1", ilt.Image(b, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}, map[string]string{"usr/bin/app": "binary"})),
	}
	for _, name := range []string{"numeric", "user-name"} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				r := newResolver(b, reg, nil)
				if _, err := r.Lookup(context.Background(), images[name], nil, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLookupWarm is one lookup answered from the cache.
func BenchmarkLookupWarm(b *testing.B) {
	reg := ilt.New(b)
	ref := reg.Push(b, "named", "v1", ilt.Image(b, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}))
	r := newResolver(b, reg, nil)
	if _, err := r.Lookup(context.Background(), ref, nil, ""); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if f, err := r.Lookup(context.Background(), ref, nil, ""); err != nil || f.Verdict != imagelookup.VerdictPin {
			b.Fatal(f, err)
		}
	}
}
