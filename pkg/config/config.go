package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	sigsjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// Limits and defaults of the configuration file.
const (
	// MaxFileBytes bounds the file: a configuration is a few hundred bytes.
	MaxFileBytes = 1 << 20
	// MaxPatterns bounds each of excludeImages and excludeContainers, and
	// MaxPatternLength each pattern: every container of every pod is matched
	// against them.
	MaxPatterns      = 256
	MaxPatternLength = 512
	// DefaultImageLookupTimeout and MaxImageLookupTimeout bound one image
	// lookup; the API server waits at most 30 s for the whole review.
	DefaultImageLookupTimeout = 2 * time.Second
	MaxImageLookupTimeout     = 25 * time.Second
)

// ErrInvalid is wrapped by every error Decode and Load return for a file that
// was read but is not a valid configuration.
var ErrInvalid = errors.New("invalid configuration")

// Default returns the configuration of a cluster without a file: what an
// empty Configuration defaults to.
func Default() *Configuration {
	c := &Configuration{APIVersion: APIVersion, Kind: Kind}
	c.SetDefaults()
	return c
}

// Load reads the configuration file at path (at most MaxFileBytes) and
// returns it decoded, defaulted and validated.
func Load(path string) (*Configuration, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Decode(data)
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	return c, nil
}

// readFile reads path, at most MaxFileBytes+1 bytes (Decode reports a file
// over the limit).
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading configuration file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading configuration file %s: %w", path, err)
	}
	return data, nil
}

// Decode decodes data, YAML or JSON, as a Configuration, fills in the
// defaults and validates it. Every problem found is reported, each naming its
// field; the error wraps ErrInvalid.
func Decode(data []byte) (*Configuration, error) {
	invalid := func(errs ...error) error {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	if len(data) > MaxFileBytes {
		return nil, invalid(fmt.Errorf("the file is larger than %d bytes", MaxFileBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, invalid(fmt.Errorf("the file is empty; it needs at least apiVersion: %s and kind: %s", APIVersion, Kind))
	}
	// YAMLToJSONStrict refuses duplicate keys in YAML; JSON is YAML.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, invalid(fmt.Errorf("not valid YAML or JSON: %w", err))
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || t[0] != '{' {
		return nil, invalid(errors.New("the file is not a YAML or JSON object"))
	}
	var c Configuration
	strict, err := sigsjson.UnmarshalStrict(js, &c, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
	if err != nil {
		return nil, invalid(typeError(err))
	}
	var errs []error
	for _, e := range strict {
		errs = append(errs, strictError(e))
	}
	if c.APIVersion != APIVersion || c.Kind != Kind {
		errs = append(errs, fmt.Errorf("apiVersion %q, kind %q: want apiVersion %s, kind %s", c.APIVersion, c.Kind, APIVersion, Kind))
	}
	if len(errs) > 0 {
		return nil, invalid(errs...)
	}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		return nil, invalid(err)
	}
	return &c, nil
}

// unknownRulePattern matches the strict decoder's message for an unknown key
// directly under rules, which is a rule ID.
var unknownRulePattern = regexp.MustCompile(`^unknown field "rules\.([^".]*)"$`)

// strictError says an unknown rule ID as such, with the IDs there are.
func strictError(err error) error {
	if m := unknownRulePattern.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf("rules.%s: no such rule; the rules are %s", m[1], strings.Join(defaults.RuleIDs(), ", "))
	}
	return err
}

// typeErrorPattern matches the JSON decoder's message for a value of the wrong
// type, to say it with the field's path first.
var typeErrorPattern = regexp.MustCompile(`^json: cannot unmarshal (\w+) into Go (?:struct field \w+\.(\S+)|value) of type (\S+)$`)

// typeError rewrites a wrong-type error as "path: want TYPE, got KIND".
func typeError(err error) error {
	m := typeErrorPattern.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	want := m[3]
	switch {
	case strings.HasPrefix(want, "[]"):
		want = "a list"
	case want == "bool" || want == "*bool":
		want = "true or false"
	case strings.Contains(want, "int"):
		want = "an integer"
	case want == "string" || want == "config.Duration":
		want = "a string"
	default:
		want = "an object"
	}
	field := m[2]
	if field == "" {
		field = "the file"
	}
	return fmt.Errorf("%s: want %s, got %s", field, want, m[1])
}

// SetDefaults fills in every field left out.
func (c *Configuration) SetDefaults() {
	if c.AllowPodOptOut == nil {
		c.AllowPodOptOut = ptr(true)
	}
	if c.ImageLookup.Enabled == nil {
		c.ImageLookup.Enabled = ptr(false)
	}
	if c.ImageLookup.Timeout == "" {
		c.ImageLookup.Timeout = Duration(DefaultImageLookupTimeout.String())
	}
	il := &c.ImageLookup
	if len(il.Platforms) == 0 {
		il.Platforms = []string{imagelookup.DefaultPlatform}
	}
	if il.CacheSize == nil {
		il.CacheSize = ptr(imagelookup.DefaultCacheSize)
	}
	if il.TagTTL == "" {
		il.TagTTL = Duration(imagelookup.DefaultTagTTL.String())
	}
	if il.MaxLayerBytes == nil {
		il.MaxLayerBytes = ptr(int64(imagelookup.DefaultMaxLayerBytes))
	}
	if il.MaxUncompressedBytes == nil {
		il.MaxUncompressedBytes = ptr(int64(imagelookup.DefaultMaxUncompressedBytes))
	}
	if il.PullSecrets == nil {
		il.PullSecrets = ptr(false)
	}
	c.Rules.setDefaults()
}

// setDefaults gives every rule an entry, so the effective configuration
// (as logged at load) lists each rule's state and settings.
func (r *Rules) setDefaults() {
	for _, e := range r.entries() {
		if e.toggle.Enabled == nil {
			e.toggle.Enabled = ptr(!e.optional)
		}
	}
	if r.RunAsUser.RunAsUser == nil {
		r.RunAsUser.RunAsUser = ptr(defaults.DefaultRunAsUser)
	}
	if r.RunAsUser.RunAsGroup == nil {
		r.RunAsUser.RunAsGroup = ptr(defaults.DefaultRunAsUser)
	}
	if r.FSGroup.FSGroup == nil {
		r.FSGroup.FSGroup = ptr(defaults.DefaultFSGroup)
	}
}

// ruleEntry ties a rule ID to its entry in Rules.
type ruleEntry struct {
	id       string
	optional bool
	toggle   *Toggle
}

// entries lists the rules' entries, in registry order, creating those left
// out. A test checks that it names every registered rule, and only those.
func (r *Rules) entries() []ruleEntry {
	for _, t := range []**Toggle{&r.RunAsNonRoot, &r.DropAllCapabilities, &r.SeccompRuntimeDefault,
		&r.NoPrivilegeEscalation, &r.ReadOnlyRootFilesystem, &r.TmpEmptyDir, &r.NoServiceAccountToken} {
		if *t == nil {
			*t = &Toggle{}
		}
	}
	if r.RunAsUser == nil {
		r.RunAsUser = &RunAsUserRule{}
	}
	if r.FSGroup == nil {
		r.FSGroup = &FSGroupRule{}
	}
	return []ruleEntry{
		{"run-as-non-root", false, r.RunAsNonRoot},
		{"drop-all-capabilities", false, r.DropAllCapabilities},
		{"seccomp-runtime-default", false, r.SeccompRuntimeDefault},
		{"no-privilege-escalation", false, r.NoPrivilegeEscalation},
		{"read-only-root-filesystem", true, r.ReadOnlyRootFilesystem},
		{"tmp-emptydir", false, r.TmpEmptyDir},
		{"run-as-user", true, &r.RunAsUser.Toggle},
		{"fs-group", true, &r.FSGroup.Toggle},
		{"no-service-account-token", true, r.NoServiceAccountToken},
	}
}

// maxID is the largest UID or GID the API server accepts.
const maxID = 2147483647

func validateID(field string, v *int64) error {
	if v != nil && (*v < 1 || *v > maxID) {
		return fmt.Errorf("%s: %d is out of range: want 1 to %d", field, *v, maxID)
	}
	return nil
}

// Validate reports every invalid field of a defaulted configuration, each
// with its path, joined into one error.
func (c *Configuration) Validate() error {
	var errs []error
	if c.APIVersion != APIVersion || c.Kind != Kind {
		errs = append(errs, fmt.Errorf("apiVersion %q, kind %q: want apiVersion %s, kind %s", c.APIVersion, c.Kind, APIVersion, Kind))
	}
	if d, err := time.ParseDuration(string(c.ImageLookup.Timeout)); err != nil {
		errs = append(errs, fmt.Errorf("imageLookup.timeout: %q is not a duration such as 2s or 500ms", string(c.ImageLookup.Timeout)))
	} else if d <= 0 || d > MaxImageLookupTimeout {
		errs = append(errs, fmt.Errorf("imageLookup.timeout: %s is out of range: want more than 0 and at most %s", d, MaxImageLookupTimeout))
	}
	if d, err := time.ParseDuration(string(c.ImageLookup.TagTTL)); err != nil || d <= 0 {
		errs = append(errs, fmt.Errorf("imageLookup.tagTTL: %q is not a positive duration such as 30s", string(c.ImageLookup.TagTTL)))
	}
	il := c.ImageLookupConfig()
	il.Timeout, il.TagTTL = 0, 0 // checked above, as the file spells them
	if err := il.Validate(); err != nil {
		errs = append(errs, err)
	}
	if n := c.ImageLookup.CacheSize; n != nil && *n == 0 {
		errs = append(errs, fmt.Errorf("imageLookup.cacheSize: must be positive, got %d", *n))
	}
	for field, v := range map[string]*int64{"maxLayerBytes": c.ImageLookup.MaxLayerBytes, "maxUncompressedBytes": c.ImageLookup.MaxUncompressedBytes} {
		if v != nil && *v == 0 {
			errs = append(errs, fmt.Errorf("imageLookup.%s: must be positive, got 0", field))
		}
	}
	if r := c.Rules.RunAsUser; r != nil {
		errs = append(errs, validateID("rules.run-as-user.runAsUser", r.RunAsUser), validateID("rules.run-as-user.runAsGroup", r.RunAsGroup))
	}
	if r := c.Rules.FSGroup; r != nil {
		errs = append(errs, validateID("rules.fs-group.fsGroup", r.FSGroup))
	}
	errs = append(errs, validatePatterns("excludeImages", c.ExcludeImages)...)
	errs = append(errs, validatePatterns("excludeContainers", c.ExcludeContainers)...)
	return errors.Join(errs...)
}

func validatePatterns(field string, patterns []string) []error {
	var errs []error
	if len(patterns) > MaxPatterns {
		errs = append(errs, fmt.Errorf("%s: %d patterns, at most %d allowed", field, len(patterns), MaxPatterns))
	}
	for i, p := range patterns {
		if err := defaults.ValidatePattern(p, MaxPatternLength); err != nil {
			errs = append(errs, fmt.Errorf("%s[%d]: %w", field, i, err))
		}
	}
	return errs
}

// ImageLookupConfig returns what image lookup runs with under c, a defaulted
// configuration.
func (c *Configuration) ImageLookupConfig() imagelookup.Config {
	il := c.ImageLookup
	out := imagelookup.Config{
		Enabled:            il.Enabled != nil && *il.Enabled,
		Timeout:            il.Timeout.Duration(),
		Platforms:          il.Platforms,
		TagTTL:             il.TagTTL.Duration(),
		DockerConfig:       il.DockerConfig,
		PullSecrets:        il.PullSecrets != nil && *il.PullSecrets,
		RootImageRunAsUser: il.RootImageRunAsUser,
	}
	if il.CacheSize != nil {
		out.CacheSize = *il.CacheSize
	}
	if il.MaxLayerBytes != nil {
		out.MaxLayerBytes = *il.MaxLayerBytes
	}
	if il.MaxUncompressedBytes != nil {
		out.MaxUncompressedBytes = *il.MaxUncompressedBytes
	}
	return out
}

// Options returns the options the rules run with under c, a defaulted and
// valid configuration.
func (c *Configuration) Options() defaults.Options {
	o := defaults.Options{
		Rules:             map[string]bool{},
		ExcludeImages:     c.ExcludeImages,
		ExcludeContainers: c.ExcludeContainers,
		IgnorePodOptOut:   c.AllowPodOptOut != nil && !*c.AllowPodOptOut,
	}
	for _, e := range c.Rules.entries() {
		if e.toggle.Enabled != nil {
			o.Rules[e.id] = *e.toggle.Enabled
		}
	}
	if r := c.Rules.RunAsUser; r.RunAsUser != nil && r.RunAsGroup != nil {
		o.RunAsUser, o.RunAsGroup = *r.RunAsUser, *r.RunAsGroup
	}
	if r := c.Rules.FSGroup; r.FSGroup != nil {
		o.FSGroup = *r.FSGroup
	}
	return o
}

func ptr[T any](v T) *T { return &v }
