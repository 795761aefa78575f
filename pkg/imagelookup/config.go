package imagelookup

import (
	"errors"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Defaults of Config.
const (
	DefaultTimeout              = 2 * time.Second
	DefaultTagTTL               = 30 * time.Second
	DefaultCacheSize            = 10000
	DefaultPlatform             = "linux/amd64"
	DefaultMaxLayerBytes        = 64 << 20
	DefaultMaxUncompressedBytes = 256 << 20
)

// Config is what image lookup runs with: the imageLookup section of the
// configuration file, as package config decodes it. Zero fields take their
// defaults (SetDefaults); errors name the file's fields.
type Config struct {
	// Enabled turns image lookup on. Off by default.
	Enabled bool
	// Timeout bounds one image's lookup (default 2s). A review never waits
	// longer than its own deadline either: the lookup gets whichever is
	// shorter, less a margin for the rest of the review.
	Timeout time.Duration
	// Platforms are the entries of a multi-platform image (an index) whose
	// user is read, as "os/arch[/variant]" (default ["linux/amd64"]). With
	// more than one, platforms that disagree on the user make the container
	// count as needing root: the pod may land on any of them.
	Platforms []string
	// CacheSize is how many image digests the result cache holds (default
	// 10000: about 7 MiB with as many references); the least recently used
	// is dropped first. The same number bounds the cache of references.
	CacheSize int
	// TagTTL is how long a tag is taken to point at the digest it was last
	// seen at (default 30s). Digests never change, so results by digest do
	// not expire.
	TagTTL time.Duration
	// MaxLayerBytes bounds the compressed bytes of layers read to find
	// /etc/passwd for one image (default 64Mi); MaxUncompressedBytes bounds
	// what they unpack to (default 256Mi). Past either the user name counts
	// as unresolvable.
	MaxLayerBytes        int64
	MaxUncompressedBytes int64
	// DockerConfig is the path of a docker config file (config.json) with
	// the webhook's own registry credentials, read again at each registry
	// lookup so a rotated Secret takes effect. Empty: anonymous only.
	DockerConfig string
	// PullSecrets makes the webhook read each pod's imagePullSecrets to
	// reach private registries. Off by default: it needs get on Secrets in
	// every opted-in namespace.
	PullSecrets bool
	// RootImageRunAsUser, when set, is pinned as the runAsUser of containers
	// whose image runs as root, instead of letting them run as root. Off by
	// default: an application that expects root may break.
	RootImageRunAsUser *int64
}

// SetDefaults fills in every unset field with its default.
func (c *Config) SetDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.TagTTL == 0 {
		c.TagTTL = DefaultTagTTL
	}
	if len(c.Platforms) == 0 {
		c.Platforms = []string{DefaultPlatform}
	}
	if c.CacheSize == 0 {
		c.CacheSize = DefaultCacheSize
	}
	if c.MaxLayerBytes == 0 {
		c.MaxLayerBytes = DefaultMaxLayerBytes
	}
	if c.MaxUncompressedBytes == 0 {
		c.MaxUncompressedBytes = DefaultMaxUncompressedBytes
	}
}

// Validate reports every invalid field at once, each named by its path in
// the configuration file.
func (c *Config) Validate() error {
	var errs []error
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("imageLookup.timeout: must be positive, got %s", c.Timeout))
	}
	if c.TagTTL < 0 {
		errs = append(errs, fmt.Errorf("imageLookup.tagTTL: must not be negative, got %s", c.TagTTL))
	}
	if c.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("imageLookup.cacheSize: must not be negative, got %d", c.CacheSize))
	}
	if _, err := parsePlatforms(c.Platforms); err != nil {
		errs = append(errs, fmt.Errorf("imageLookup.platforms: %w", err))
	}
	if c.MaxLayerBytes < 0 {
		errs = append(errs, fmt.Errorf("imageLookup.maxLayerBytes: must be positive, got %d", c.MaxLayerBytes))
	}
	if c.MaxUncompressedBytes < 0 {
		errs = append(errs, fmt.Errorf("imageLookup.maxUncompressedBytes: must be positive, got %d", c.MaxUncompressedBytes))
	}
	if u := c.RootImageRunAsUser; u != nil && (*u <= 0 || *u > 2147483647) {
		errs = append(errs, fmt.Errorf("imageLookup.rootImageRunAsUser: must be a non-zero UID (1 to 2147483647), got %d", *u))
	}
	return errors.Join(errs...)
}

// parsePlatforms parses "os/arch[/variant]" strings.
func parsePlatforms(ss []string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range ss {
		p, err := v1.ParsePlatform(s)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, fmt.Errorf("%q is not os/arch[/variant], e.g. %s", s, DefaultPlatform)
		}
		out = append(out, *p)
	}
	return out, nil
}
