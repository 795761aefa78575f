package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/secure-defaults/secure-defaults/pkg/export"
)

const exportUsage = `Usage: secure-defaults export mutating-admission-policy [--config FILE] [--name NAME]

Prints a MutatingAdmissionPolicy and its MutatingAdmissionPolicyBinding
(admissionregistration.k8s.io/v1, Kubernetes 1.36+) that make the API server
itself apply the secure defaults to the pods of namespaces labelled
secure-defaults.dev/inject=enabled, with no webhook to run:

  secure-defaults export mutating-admission-policy | kubectl apply -f -

Rules switched off in --config are left out. What the policy does
differently from the webhook is listed in a comment at the top of the output.

Flags:
`

// exportOptions are the flags of export.
type exportOptions struct {
	// Config is the configuration file, as given to serve --config; "" for
	// the shipped defaults.
	Config string
	// Name names the policy and the binding.
	Name string
}

// AddFlags registers the flags of export on fs.
func (o *exportOptions) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Config, "config", o.Config, "configuration `FILE` (kind: Configuration), as given to serve --config: which rules the policy implements")
	fs.StringVar(&o.Name, "name", export.DefaultName, "`NAME` of the policy and of its binding")
}

func runExport(_ context.Context, args []string, s IO) int {
	o := &exportOptions{}
	fs := newFlagSet("export", exportUsage, o.AddFlags)
	// What to export comes first or last: flags may follow it.
	var what []string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		what, args = args[:1], args[1:]
	}
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	what = append(what, fs.Args()...)
	if len(what) != 1 || what[0] != "mutating-admission-policy" {
		fmt.Fprintf(s.Err, "secure-defaults export: want one argument, mutating-admission-policy, got %q\n", what)
		fs.Usage()
		return 2
	}
	cfg, ok := loadConfig("export", o.Config, s)
	if !ok {
		return 2
	}
	p, err := export.Build(cfg, o.Name)
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults export: %v\n", err)
		return 2
	}
	if err := export.Write(s.Out, p); err != nil {
		fmt.Fprintf(s.Err, "secure-defaults export: %v\n", err)
		return 1
	}
	return 0
}
