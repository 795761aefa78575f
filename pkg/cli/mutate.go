package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/manifest"
)

// fileList is a repeatable -f flag.
type fileList []string

func (f *fileList) String() string     { return fmt.Sprint(*f) }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

const mutateUsage = `Usage: secure-defaults mutate [-f FILE]... [--output yaml|patch] [--config FILE]

Applies the secure defaults to the pods in Kubernetes manifests, as the webhook
would: Pods and the pod templates of Deployments, ReplicaSets, StatefulSets,
DaemonSets, Jobs, CronJobs, ReplicationControllers and PodTemplates, also inside
a kind: List. Other documents are passed through. Input is multi-document YAML
or JSON; without -f, stdin is read.

--output yaml (default) writes every document, in input order, as YAML
separated by "---". --output patch writes one line per document: the RFC 6902
JSON patch that turns it into the mutated document (paths relative to the
document), "[]" when it is unchanged.

Warnings go to stderr. If any document is malformed, nothing is written to
stdout, the problem is reported with its file and document number, and the
exit status is 1 (2 for usage errors).

Flags:
`

// runMutate reads manifests from files or stdin, applies the secure defaults
// to every pod in them, and writes all documents to stdout, or nothing at all
// when any document is malformed.
func runMutate(_ context.Context, args []string, s IO) int {
	fs := flag.NewFlagSet("mutate", flag.ContinueOnError)
	var files fileList
	fs.Var(&files, "f", "manifest file to read, `FILE` or - for stdin (repeatable; default stdin)")
	fs.Var(&files, "filename", "same as -f")
	output := fs.String("output", "yaml", "output format: yaml (the mutated documents) or patch (one JSON patch per document and line)")
	fs.StringVar(output, "o", "yaml", "same as --output")
	configFile := fs.String("config", "", "configuration `FILE` (kind: Configuration), as given to serve --config: which rules run and with what settings")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), mutateUsage)
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.Err, "secure-defaults mutate: unexpected argument %q (files are given with -f)\n", fs.Arg(0))
		return 2
	}
	if *output != "yaml" && *output != "patch" {
		fmt.Fprintf(s.Err, "secure-defaults mutate: --output must be yaml or patch, not %q\n", *output)
		return 2
	}
	if len(files) == 0 {
		files = fileList{"-"}
	}
	stdin := 0
	for _, f := range files {
		if f == "-" {
			stdin++
		}
	}
	if stdin > 1 {
		fmt.Fprintln(s.Err, "secure-defaults mutate: stdin (-) can be read only once")
		return 2
	}

	opts := defaults.Options{}
	if *configFile != "" {
		c, err := config.Load(*configFile)
		if err != nil {
			fmt.Fprintf(s.Err, "secure-defaults mutate: %v\n", err)
			return 2
		}
		opts = c.Options()
	}

	var objects, patches [][]byte
	for _, f := range files {
		results, err := mutateSource(f, s.In, opts)
		if err != nil {
			fmt.Fprintf(s.Err, "secure-defaults mutate: %v\n", err)
			return 1
		}
		for _, r := range results {
			for _, w := range r.Warnings() {
				fmt.Fprintf(s.Err, "warning: %s\n", w)
			}
			objects = append(objects, r.JSON)
			patches = append(patches, r.Patch)
		}
	}
	var (
		out []byte
		err error
	)
	if *output == "patch" {
		out, err = manifest.WritePatches(patches)
	} else {
		out, err = manifest.WriteYAML(objects)
	}
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults mutate: %v\n", err)
		return 1
	}
	if _, err := s.Out.Write(out); err != nil {
		fmt.Fprintf(s.Err, "secure-defaults mutate: writing output: %v\n", err)
		return 1
	}
	return 0
}

// mutateSource reads and mutates every document of one file, or of stdin
// for "-".
func mutateSource(name string, stdin io.Reader, opts defaults.Options) ([]manifest.Result, error) {
	r, source := stdin, "<stdin>"
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s: no such file", name)
			}
			return nil, err
		}
		defer f.Close()
		r, source = f, name
	}
	docs, err := manifest.Read(r, source)
	if err != nil {
		return nil, err
	}
	results := make([]manifest.Result, 0, len(docs))
	for _, d := range docs {
		res, err := manifest.Mutate(d, opts)
		if err != nil {
			return nil, err
		}
		results = append(results, res)
	}
	return results, nil
}
