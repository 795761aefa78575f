package config

import (
	"errors"
	"testing"
)

// FuzzDecode feeds Decode arbitrary files: it must never panic, every error
// wraps ErrInvalid, and a configuration it accepts is valid and its options
// build.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(header))
	f.Add([]byte(header + "rules: {tmp-emptydir: {enabled: false}}\nexcludeImages: ['a/*']\nimageLookup: {enabled: true, timeout: 1s}\nallowPodOptOut: false\n"))
	f.Add([]byte(`{"apiVersion":"config.secure-defaults.dev/v1alpha1","kind":"Configuration","rules":{"x":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("accepted an invalid configuration: %v", err)
		}
		_ = c.Options()
	})
}
