package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/secure-defaults/secure-defaults/internal/refdoc"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

const header = "apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\n"

// TestDecodeErrors checks every message Decode gives: each names the field
// (or says what is wrong with the file as a whole) and wraps ErrInvalid.
func TestDecodeErrors(t *testing.T) {
	long := strings.Repeat("a", MaxPatternLength+1)
	many := "excludeContainers: [" + strings.TrimSuffix(strings.Repeat("a,", MaxPatterns+1), ",") + "]\n"
	cases := []struct {
		name string
		in   string
		want []string // every line of the joined error, in order
	}{
		{"empty file", "  \n", []string{"invalid configuration: the file is empty; it needs at least apiVersion: config.secure-defaults.dev/v1alpha1 and kind: Configuration"}},
		{"too large", header + "#" + strings.Repeat("x", MaxFileBytes), []string{"invalid configuration: the file is larger than 1048576 bytes"}},
		{"not YAML", "a: [\n", []string{"invalid configuration: not valid YAML or JSON: yaml: line 1: did not find expected node content"}},
		{"not an object", "- a\n", []string{"invalid configuration: the file is not a YAML or JSON object"}},
		{"duplicate key", header + "allowPodOptOut: true\nallowPodOptOut: false\n", []string{
			"invalid configuration: not valid YAML or JSON: yaml: unmarshal errors:",
			`  line 4: key "allowPodOptOut" already set in map`}},
		{"wrong apiVersion and kind", "apiVersion: v1\nkind: ConfigMap\n", []string{
			`invalid configuration: apiVersion "v1", kind "ConfigMap": want apiVersion config.secure-defaults.dev/v1alpha1, kind Configuration`}},
		{"missing apiVersion", "kind: Configuration\n", []string{
			`invalid configuration: apiVersion "", kind "Configuration": want apiVersion config.secure-defaults.dev/v1alpha1, kind Configuration`}},
		{"unknown fields, all of them, with apiVersion", "apiVersion: x\nkind: Configuration\nfoo: 1\nrules:\n  tmp-emptydir: {enabled: true, extra: 1}\n", []string{
			`invalid configuration: unknown field "foo"`,
			`unknown field "rules.tmp-emptydir.extra"`,
			`apiVersion "x", kind "Configuration": want apiVersion config.secure-defaults.dev/v1alpha1, kind Configuration`}},
		{"unknown rule", header + "rules:\n  run-as-nonroot: {enabled: false}\n", []string{
			"invalid configuration: rules.run-as-nonroot: no such rule; the rules are " + strings.Join(defaults.RuleIDs(), ", ")}},
		{"bool of the wrong type", header + "rules:\n  tmp-emptydir: {enabled: \"off\"}\n", []string{
			"invalid configuration: rules.tmp-emptydir.enabled: want true or false, got string"}},
		{"list of the wrong type", header + "excludeImages: registry.example/*\n", []string{
			"invalid configuration: excludeImages: want a list, got string"}},
		{"object of the wrong type", header + "imageLookup: true\n", []string{
			"invalid configuration: imageLookup: want an object, got bool"}},
		{"duration of the wrong type", header + "imageLookup: {timeout: 2}\n", []string{
			"invalid configuration: imageLookup.timeout: want a string, got number"}},
		{"allowPodOptOut of the wrong type", header + "allowPodOptOut: 1\n", []string{
			"invalid configuration: allowPodOptOut: want true or false, got number"}},
		{"bad duration, bad patterns: all reported", header + "imageLookup: {timeout: soon}\nexcludeImages: ['', 'a b']\nexcludeContainers: [" + long + "]\n", []string{
			`invalid configuration: imageLookup.timeout: "soon" is not a duration such as 2s or 500ms`,
			"excludeImages[0]: empty pattern",
			`excludeImages[1]: pattern "a b" has a space or control character`,
			"excludeContainers[0]: pattern of 513 bytes, at most 512 allowed"}},
		{"timeout zero", header + "imageLookup: {timeout: 0s}\n", []string{
			"invalid configuration: imageLookup.timeout: 0s is out of range: want more than 0 and at most 25s"}},
		{"timeout too long", header + "imageLookup: {timeout: 1m}\n", []string{
			"invalid configuration: imageLookup.timeout: 1m0s is out of range: want more than 0 and at most 25s"}},
		{"image lookup fields, all reported", header + "imageLookup: {platforms: [amd64], cacheSize: 0, tagTTL: never, maxLayerBytes: 0, maxUncompressedBytes: -1, rootImageRunAsUser: 0}\n", []string{
			`invalid configuration: imageLookup.tagTTL: "never" is not a positive duration such as 30s`,
			`imageLookup.platforms: "amd64" is not os/arch[/variant], e.g. linux/amd64`,
			"imageLookup.maxUncompressedBytes: must be positive, got -1",
			"imageLookup.rootImageRunAsUser: must be a non-zero UID (1 to 2147483647), got 0",
			"imageLookup.cacheSize: must be positive, got 0",
			"imageLookup.maxLayerBytes: must be positive, got 0"}},
		{"IDs out of range", header + "rules:\n  run-as-user: {enabled: true, runAsUser: 0, runAsGroup: 2147483648}\n  fs-group: {fsGroup: -1}\n", []string{
			"invalid configuration: rules.run-as-user.runAsUser: 0 is out of range: want 1 to 2147483647",
			"rules.run-as-user.runAsGroup: 2147483648 is out of range: want 1 to 2147483647",
			"rules.fs-group.fsGroup: -1 is out of range: want 1 to 2147483647"}},
		{"ID of the wrong type", header + "rules: {run-as-user: {runAsUser: nobody}}\n", []string{
			"invalid configuration: rules.run-as-user.runAsUser: want an integer, got string"}},
		{"a setting of another rule", header + "rules: {fs-group: {runAsUser: 1}}\n", []string{
			`invalid configuration: unknown field "rules.fs-group.runAsUser"`}},
		{"too many patterns", header + many, []string{
			"invalid configuration: excludeContainers: 257 patterns, at most 256 allowed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Decode([]byte(tc.in))
			if err == nil {
				t.Fatalf("no error; decoded %+v", c)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if d := cmp.Diff(tc.want, strings.Split(err.Error(), "\n")); d != "" {
				t.Errorf("error (-want +got):\n%s", d)
			}
		})
	}
}

func TestDecodeDefaults(t *testing.T) {
	for _, in := range []string{header, `{"apiVersion":"config.secure-defaults.dev/v1alpha1","kind":"Configuration"}`} {
		c, err := Decode([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(Default(), c); d != "" {
			t.Errorf("defaults of %q (-Default() +got):\n%s", in, d)
		}
		if !*c.AllowPodOptOut || *c.ImageLookup.Enabled || c.ImageLookup.Timeout.Duration() != DefaultImageLookupTimeout {
			t.Errorf("defaults: allowPodOptOut %v, imageLookup %v %s", *c.AllowPodOptOut, *c.ImageLookup.Enabled, c.ImageLookup.Timeout)
		}
		// The defaults run exactly the rules of a cluster without a file.
		for _, r := range defaults.Rules() {
			if got, want := c.Options().Enabled(r.ID), (defaults.Options{}).Enabled(r.ID); got != want {
				t.Errorf("rule %s: enabled %v with the default file, %v without", r.ID, got, want)
			}
		}
	}
}

// TestReferenceExampleDecodes decodes the example of docs/reference.md
// ("Configuration file"), so the documented file is always one that loads.
func TestReferenceExampleDecodes(t *testing.T) {
	doc, err := refdoc.Read()
	if err != nil {
		t.Fatal(err)
	}
	example, err := refdoc.CodeBlock(doc, "## Configuration file")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decode([]byte(example)); err != nil {
		t.Errorf("the example of %s does not decode: %v\n%s", refdoc.Path, err, example)
	}
}

// TestDecodeEveryField sets every field of the file at once.
func TestDecodeEveryField(t *testing.T) {
	in := header + `rules:                         # every rule on unless turned off here
  tmp-emptydir: {enabled: false}
imageLookup:
  enabled: true
  timeout: 2s
excludeImages: ["registry.example/legacy/*"]
excludeContainers: ["istio-*"]
allowPodOptOut: false
`
	c, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.Enabled("tmp-emptydir") || !o.Enabled("run-as-non-root") || o.Enabled("run-as-user") {
		t.Errorf("rules: %v", o.Rules)
	}
	if !*c.ImageLookup.Enabled || c.ImageLookup.Timeout.Duration() != 2*time.Second {
		t.Errorf("imageLookup: %+v", c.ImageLookup)
	}
	if !o.IgnorePodOptOut || !reflect.DeepEqual(o.ExcludeImages, []string{"registry.example/legacy/*"}) || !reflect.DeepEqual(o.ExcludeContainers, []string{"istio-*"}) {
		t.Errorf("options: %+v", o)
	}
}

// TestRulesNameEveryRule keeps the file's rules section in step with the
// registry: one entry per rule, named by its ID, optional as the rule is.
func TestRulesNameEveryRule(t *testing.T) {
	var r Rules
	var got, want []string
	byID := map[string]ruleEntry{}
	for _, e := range r.entries() {
		got = append(got, e.id)
		byID[e.id] = e
	}
	for _, rule := range defaults.Rules() {
		want = append(want, rule.ID)
		if e, ok := byID[rule.ID]; ok && e.optional != rule.Optional {
			t.Errorf("rule %s: optional %v in the file, %v in the registry", rule.ID, e.optional, rule.Optional)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rules section (-registry +file):\n%s", d)
	}
	// Every field of Rules has an entry, named by its JSON key.
	rt := reflect.TypeOf(r)
	var keys []string
	for i := range rt.NumField() {
		keys = append(keys, strings.Split(rt.Field(i).Tag.Get("json"), ",")[0])
	}
	sort.Strings(keys)
	sort.Strings(got)
	if d := cmp.Diff(keys, got); d != "" {
		t.Errorf("Rules fields vs entries (-fields +entries):\n%s", d)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte(header+"rules: {tmp-emptydir: {enabled: false}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(good)
	if err != nil {
		t.Fatal(err)
	}
	if c.Options().Enabled("tmp-emptydir") {
		t.Error("tmp-emptydir still on")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kind: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad); err == nil || !strings.HasPrefix(err.Error(), "configuration file "+bad+": invalid configuration: ") {
		t.Errorf("bad file: %v, want the file's name first", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

func TestImageLookupConfig(t *testing.T) {
	c, err := Decode([]byte(header + "imageLookup:\n  enabled: true\n  timeout: 3s\n  platforms: [linux/arm64]\n  tagTTL: 1m\n  dockerConfig: /etc/registry/config.json\n  pullSecrets: true\n  rootImageRunAsUser: 65534\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := c.ImageLookupConfig()
	if !got.Enabled || got.Timeout != 3*time.Second || got.TagTTL != time.Minute || got.Platforms[0] != "linux/arm64" ||
		got.DockerConfig != "/etc/registry/config.json" || !got.PullSecrets || *got.RootImageRunAsUser != 65534 ||
		got.CacheSize != 10000 || got.MaxLayerBytes != 64<<20 || got.MaxUncompressedBytes != 256<<20 {
		t.Errorf("got %+v", got)
	}
	if off := Default().ImageLookupConfig(); off.Enabled || off.PullSecrets || off.RootImageRunAsUser != nil {
		t.Errorf("defaults: %+v, want lookup, pull secrets and the root UID off", off)
	}
}

func TestOptionalRuleSettings(t *testing.T) {
	c, err := Decode([]byte(header + "rules:\n  run-as-user: {enabled: true, runAsUser: 1001, runAsGroup: 2002}\n  fs-group: {enabled: true}\n  read-only-root-filesystem: {enabled: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if !o.Enabled("run-as-user") || !o.Enabled("fs-group") || !o.Enabled("read-only-root-filesystem") || o.Enabled("no-service-account-token") {
		t.Errorf("rules %v", o.Rules)
	}
	if o.RunAsUser != 1001 || o.RunAsGroup != 2002 || o.FSGroup != defaults.DefaultFSGroup {
		t.Errorf("settings: runAsUser %d runAsGroup %d fsGroup %d", o.RunAsUser, o.RunAsGroup, o.FSGroup)
	}
}
