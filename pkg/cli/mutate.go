package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"

	"github.com/secure-defaults/secure-defaults/internal/textdiff"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
	"github.com/secure-defaults/secure-defaults/pkg/manifest"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return fmt.Sprint(*f) }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

// Output formats of mutate.
const (
	outputYAML       = "yaml"       // the input's own text plus the defaults
	outputNormalized = "normalized" // every document re-encoded as YAML
	outputPatch      = "patch"      // one JSON patch per document and line
)

// Exit status of mutate --check when a file would change: distinct from 1
// (malformed input) and 2 (usage), so a CI gate can tell them apart.
const exitWouldChange = 3

const mutateUsage = `Usage: secure-defaults mutate [-f FILE]... [--output yaml|normalized|patch] [--in-place | --check] [--config FILE]

Applies the secure defaults to the pods in Kubernetes manifests, as the webhook
would: Pods and the pod templates of Deployments, ReplicaSets, StatefulSets,
DaemonSets, Jobs, CronJobs, ReplicationControllers and PodTemplates, also inside
a kind: List. Other documents are passed through. Input is multi-document YAML
or JSON; without -f, stdin is read.

--output yaml (default) writes each file as it is, plus only what the rules
set: comments, key order, layout and the documents that need nothing stay as
they were; JSON stays JSON. A document whose defaults would have to go through
a YAML anchor, alias or merge key is written normalised, with a note on stderr.
--output normalized writes every document re-encoded as YAML (sorted keys, no
comments). --output patch writes one line per document: the RFC 6902 JSON
patch that turns it into the mutated document (paths relative to the
document), "[]" when it is unchanged.

--in-place writes each file that changed back to itself (atomically: a new
file renamed over the old one), and prints its name. --check writes nothing
back: it prints a unified diff of what would change and exits with status 3
when any file would change.

Warnings go to stderr. If any document is malformed, nothing is written, the
problem is reported with its file and document number, and the exit status
is 1 (2 for usage errors).

Flags:
`

// mutateOptions are the flags of mutate.
type mutateOptions struct {
	// Files are the manifests to read, "-" for stdin.
	Files fileList
	// Output is the output format: outputYAML, outputNormalized or outputPatch.
	Output string
	// InPlace writes each changed file back instead of to stdout.
	InPlace bool
	// Check reports, as a diff, what would change, and fails if anything would.
	Check bool
	// Config is the configuration file, as given to serve --config; "" for
	// the shipped defaults.
	Config string
}

func newMutateOptions() *mutateOptions {
	return &mutateOptions{Output: outputYAML}
}

// AddFlags registers the flags of mutate on fs.
func (o *mutateOptions) AddFlags(fs *flag.FlagSet) {
	fs.Var(&o.Files, "f", "manifest file to read, `FILE` or - for stdin (repeatable; default stdin)")
	fs.Var(&o.Files, "filename", "same as -f")
	fs.StringVar(&o.Output, "output", o.Output, "output format: yaml (the input plus the defaults), normalized (re-encoded YAML) or patch (one JSON patch per document and line)")
	fs.StringVar(&o.Output, "o", o.Output, "same as --output")
	fs.BoolVar(&o.InPlace, "in-place", o.InPlace, "write each changed file back to itself, atomically, and print its name")
	fs.BoolVar(&o.Check, "check", o.Check, "write nothing; print a unified diff of what would change and exit 3 if anything would")
	fs.StringVar(&o.Config, "config", o.Config, "configuration `FILE` (kind: Configuration), as given to serve --config: which rules run and with what settings")
}

// Validate reports every invalid flag at once.
func (o *mutateOptions) Validate() error {
	var errs []error
	switch o.Output {
	case outputYAML, outputNormalized, outputPatch:
	default:
		errs = append(errs, fmt.Errorf("--output must be yaml, normalized or patch, not %q", o.Output))
	}
	stdin := 0
	for _, f := range o.Files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		errs = append(errs, errors.New("stdin (-) can be read only once"))
	}
	if o.InPlace && o.Check {
		errs = append(errs, errors.New("--in-place and --check exclude each other"))
	}
	if (o.InPlace || o.Check) && o.Output == outputPatch {
		errs = append(errs, errors.New("--in-place and --check write manifests: use --output yaml or normalized"))
	}
	if o.InPlace && (len(o.Files) == 0 || stdin > 0) {
		errs = append(errs, errors.New("--in-place needs files (-f FILE), not stdin"))
	}
	if o.InPlace {
		seen := map[string]bool{}
		for _, f := range o.Files {
			if abs, err := filepath.Abs(f); err == nil && seen[abs] {
				errs = append(errs, fmt.Errorf("--in-place: %s is given twice", f))
			} else {
				seen[abs] = true
			}
		}
	}
	return errors.Join(errs...)
}

// mutatedFile is one input and what mutate makes of it.
type mutatedFile struct {
	name string // as given with -f
	in   []byte
	out  []byte
}

// runMutate reads manifests from files or stdin, applies the secure defaults
// to every pod in them, and writes the result: to stdout, back to the files,
// or as a diff. When any document is malformed it writes nothing at all.
func runMutate(_ context.Context, args []string, s IO) int {
	o := newMutateOptions()
	fs := newFlagSet("mutate", mutateUsage, o.AddFlags)
	if code, ok := parseOptions("mutate", fs, args, s, "files are given with -f", o.Validate); !ok {
		return code
	}
	if len(o.Files) == 0 {
		o.Files = fileList{"-"}
	}

	c, ok := loadConfig("mutate", o.Config, s)
	if !ok {
		return 2
	}
	opts := c.Options()
	var facts manifest.FactsFunc
	// Image lookup reads registries with the local docker credentials
	// (~/.docker/config.json and its helpers), as docker pull would.
	lookup, err := localImageFacts(c, imagelookup.WithKeychain(authn.DefaultKeychain))
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults mutate: %v\n", err)
		return 2
	}
	if lookup != nil {
		facts = func(pod *corev1.Pod) (defaults.Facts, []string) {
			pf := lookup(pod)
			return pf.Facts(), pf.Warnings
		}
	}

	var files []mutatedFile
	for _, name := range o.Files {
		f, err := mutateSource(name, s.In, o.Output, opts, facts, s.Err)
		if err != nil {
			fmt.Fprintf(s.Err, "secure-defaults mutate: %v\n", err)
			return 1
		}
		files = append(files, f)
	}
	switch {
	case o.InPlace:
		code := 0
		for _, f := range files {
			if bytes.Equal(f.in, f.out) {
				continue
			}
			if err := replaceFile(f.name, f.in, f.out); err != nil {
				fmt.Fprintf(s.Err, "secure-defaults mutate: %v\n", err)
				code = 1
				continue
			}
			fmt.Fprintln(s.Out, f.name)
		}
		return code
	case o.Check:
		code := 0
		for _, f := range files {
			if d := textdiff.Unified(f.name, f.name, f.in, f.out); d != "" {
				if _, err := io.WriteString(s.Out, d); err != nil {
					fmt.Fprintf(s.Err, "secure-defaults mutate: writing output: %v\n", err)
					return 1
				}
				code = exitWouldChange
			}
		}
		return code
	}
	var out bytes.Buffer
	for _, f := range files {
		if o.Output == outputNormalized && out.Len() > 0 && len(f.out) > 0 {
			out.WriteString("---\n")
		}
		if o.Output == outputYAML && out.Len() > 0 {
			// Files follow one another as documents of one stream.
			if !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
				out.WriteString("\n")
			}
			out.WriteString("---\n")
		}
		out.Write(f.out)
	}
	if _, err := s.Out.Write(out.Bytes()); err != nil {
		fmt.Fprintf(s.Err, "secure-defaults mutate: writing output: %v\n", err)
		return 1
	}
	return 0
}

// mutateSource reads and mutates every document of one file, or of stdin
// for "-", and renders it in the output format. Warnings and notes go to
// warn.
func mutateSource(name string, stdin io.Reader, output string, opts defaults.Options, facts manifest.FactsFunc, warn io.Writer) (mutatedFile, error) {
	r, source := stdin, "<stdin>"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return mutatedFile{}, fmt.Errorf("%s: no such file", name)
			}
			return mutatedFile{}, err
		}
		defer f.Close()
		r, source = f, name
	}
	file, err := manifest.ReadFile(r, source)
	if err != nil {
		return mutatedFile{}, err
	}
	results := make([]manifest.Result, 0, len(file.Documents))
	var objects, patches [][]byte
	for _, d := range file.Documents {
		res, err := manifest.MutateWithFacts(d, opts, facts)
		if err != nil {
			return mutatedFile{}, err
		}
		for _, w := range res.Warnings() {
			fmt.Fprintf(warn, "warning: %s\n", w)
		}
		results = append(results, res)
		objects = append(objects, res.JSON)
		patches = append(patches, res.Patch)
	}
	out := mutatedFile{name: name, in: file.Data}
	switch output {
	case outputPatch:
		out.out, err = manifest.WritePatches(patches)
	case outputNormalized:
		out.out, err = manifest.WriteYAML(objects)
	default:
		var notes []string
		out.out, notes, err = file.Preserve(results)
		for _, n := range notes {
			fmt.Fprintf(warn, "note: %s\n", n)
		}
	}
	return out, err
}

// replaceFile writes data to path in place of before, atomically: a new file
// in the same directory, synced, then renamed over path. It refuses a file
// without write permission, and one that changed or vanished since it was
// read, rather than write over someone else's work; path is then left as it
// was, and no temporary file stays behind. A symbolic link stays a link: the
// file it points to is replaced.
func replaceFile(path string, before, data []byte) (err error) {
	target, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: vanished while being mutated; not written", path)
	}
	if err != nil {
		return err
	}
	info, err := os.Stat(target)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: vanished while being mutated; not written", path)
		}
		return err
	}
	if info.Mode().Perm()&0o200 == 0 {
		return fmt.Errorf("%s: file is read-only; not written", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".*")
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%s: writing: %w", path, err)
	}
	// The last look before the rename: the file must still hold what was read.
	now, err := os.ReadFile(target)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: vanished while being mutated; not written", path)
	case err != nil:
		return fmt.Errorf("%s: %w", path, err)
	case !bytes.Equal(now, before):
		return fmt.Errorf("%s: changed while being mutated; not written", path)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
