package config

import (
	"time"
)

// The version and kind every configuration file declares.
const (
	Group      = "config.secure-defaults.dev"
	Version    = "v1alpha1"
	APIVersion = Group + "/" + Version
	Kind       = "Configuration"
)

// Configuration is the configuration file of secure-defaults. Fields left out
// take the defaults of SetDefaults; Decode returns it defaulted and valid.
type Configuration struct {
	// APIVersion must be config.secure-defaults.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind must be Configuration.
	Kind string `json:"kind"`
	// Rules turns rules on and off and holds the settings of rules that take
	// any. Every rule not mentioned keeps its default: the five default rules
	// on, the optional rules off.
	Rules Rules `json:"rules,omitempty"`
	// ImageLookup reads each container's image configuration from its
	// registry, to know the user it runs as. Off by default.
	ImageLookup ImageLookup `json:"imageLookup,omitempty"`
	// ExcludeImages lists image patterns: a container whose image matches one
	// is left alone by every rule. "*" matches any run of characters ("/"
	// included), "?" one character; the pattern matches the whole image
	// reference as written in the pod, e.g. "registry.example/legacy/*".
	ExcludeImages []string `json:"excludeImages,omitempty"`
	// ExcludeContainers lists container name patterns, with the same syntax:
	// matching containers are left alone by every rule, e.g. "istio-*".
	ExcludeContainers []string `json:"excludeContainers,omitempty"`
	// AllowPodOptOut, true by default, lets a pod opt out with the annotations
	// secure-defaults.dev/inject: disabled, secure-defaults.dev/skip-rules and
	// secure-defaults.dev/skip-containers. With false they are ignored (with a
	// warning) and every pod in an opted-in namespace gets the defaults. This
	// guarantees defaults, not policy: enforcement belongs to Pod Security
	// admission.
	AllowPodOptOut *bool `json:"allowPodOptOut,omitempty"`
}

// Toggle turns one rule on or off.
type Toggle struct {
	// Enabled turns the rule on (true) or off (false); left out, the rule
	// keeps its default.
	Enabled *bool `json:"enabled,omitempty"`
}

// Rules has one entry per rule, named by the rule's ID. The last four are
// optional: off unless enabled here.
type Rules struct {
	RunAsNonRoot           *Toggle        `json:"run-as-non-root,omitempty"`
	DropAllCapabilities    *Toggle        `json:"drop-all-capabilities,omitempty"`
	SeccompRuntimeDefault  *Toggle        `json:"seccomp-runtime-default,omitempty"`
	NoPrivilegeEscalation  *Toggle        `json:"no-privilege-escalation,omitempty"`
	ReadOnlyRootFilesystem *Toggle        `json:"read-only-root-filesystem,omitempty"`
	TmpEmptyDir            *Toggle        `json:"tmp-emptydir,omitempty"`
	RunAsUser              *RunAsUserRule `json:"run-as-user,omitempty"`
	FSGroup                *FSGroupRule   `json:"fs-group,omitempty"`
	NoServiceAccountToken  *Toggle        `json:"no-service-account-token,omitempty"`
}

// RunAsUserRule is the entry of the run-as-user rule.
type RunAsUserRule struct {
	Toggle
	// RunAsUser is the UID set where no user is; default 65532. 1 to
	// 2147483647: the point is a non-root user.
	RunAsUser *int64 `json:"runAsUser,omitempty"`
	// RunAsGroup is the GID set with it where no group is; default 65532,
	// 1 to 2147483647.
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`
}

// FSGroupRule is the entry of the fs-group rule.
type FSGroupRule struct {
	Toggle
	// FSGroup is the group the pod's volumes get; default 65532, 1 to
	// 2147483647.
	FSGroup *int64 `json:"fsGroup,omitempty"`
}

// ImageLookup configures reading images' configuration from their registries.
type ImageLookup struct {
	// Enabled turns image lookup on. Default false.
	Enabled *bool `json:"enabled,omitempty"`
	// Timeout bounds one lookup (all of a pod's images are looked up within
	// the review's own deadline too). A Go duration such as "2s"; default 2s,
	// at most 25s.
	Timeout Duration `json:"timeout,omitempty"`
	// Platforms are the entries of a multi-platform image whose user is
	// read, "os/arch[/variant]"; default ["linux/amd64"]. Platforms that
	// disagree on the user make the container count as needing root.
	Platforms []string `json:"platforms,omitempty"`
	// CacheSize is how many image digests (and as many references) the
	// cache holds; default 10000 (about 7 MiB).
	CacheSize *int `json:"cacheSize,omitempty"`
	// TagTTL is how long a tag's digest is trusted; default 30s.
	TagTTL Duration `json:"tagTTL,omitempty"`
	// MaxLayerBytes and MaxUncompressedBytes bound the layer bytes read to
	// find /etc/passwd for one image, compressed (default 67108864, 64 MiB)
	// and uncompressed (default 268435456, 256 MiB).
	MaxLayerBytes        *int64 `json:"maxLayerBytes,omitempty"`
	MaxUncompressedBytes *int64 `json:"maxUncompressedBytes,omitempty"`
	// DockerConfig is the path of a docker config file with the webhook's
	// own registry credentials (serve); default none: anonymous. mutate uses
	// the local docker credentials instead.
	DockerConfig string `json:"dockerConfig,omitempty"`
	// PullSecrets makes serve read each pod's imagePullSecrets; default
	// false. It needs get on Secrets (deploy/components/image-pull-secrets).
	PullSecrets *bool `json:"pullSecrets,omitempty"`
	// RootImageRunAsUser, when set, is pinned as runAsUser on containers
	// whose image runs as root; default unset: they count as needing root.
	RootImageRunAsUser *int64 `json:"rootImageRunAsUser,omitempty"`
}

// Duration is a Go duration written as a string ("2s", "500ms"). It is kept as
// written so that a malformed value is reported by Validate with its path.
type Duration string

// Duration returns the parsed duration; zero if it does not parse (Validate
// reports that).
func (d Duration) Duration() time.Duration {
	v, _ := time.ParseDuration(string(d))
	return v
}
