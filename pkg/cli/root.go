// Package cli is the command tree of the secure-defaults binary: it parses
// arguments, and hands the work to the packages that do it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/version"
)

// IO carries the process's streams and logger, so commands are testable in-process.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	Log *slog.Logger
}

// command is one subcommand: its name, one-line summary, and body. run returns
// the process exit code.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, s IO) int
}

// commands is the explicit registry of subcommands.
func commands() []command {
	return []command{
		{name: "serve", summary: "run the admission webhook server", run: runServe},
		{name: "mutate", summary: "apply the secure defaults to manifests offline (for CI and review)", run: runMutate},
		{name: "audit", summary: "report what opting in would do to the workloads of a live cluster", run: runAudit},
		{name: "export", summary: "print the rules as a MutatingAdmissionPolicy, for clusters that want no webhook", run: runExport},
		{name: "version", summary: "print the version", run: runVersion},
	}
}

// Run dispatches args (without the program name) to a subcommand and returns
// the exit code: 0 success, 1 failure, 2 usage error.
func Run(ctx context.Context, args []string, s IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(s.Err)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], s)
		}
	}
	fmt.Fprintf(s.Err, "secure-defaults: unknown command %q\n\n", args[0])
	usage(s.Err)
	return 2
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("Usage: secure-defaults <command> [flags]\n\nCommands:\n")
	cs := commands()
	sort.Slice(cs, func(i, j int) bool { return cs[i].name < cs[j].name })
	for _, c := range cs {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'secure-defaults <command> -h' for the flags of a command.\n")
	io.WriteString(w, b.String())
}

// newFlagSet returns the flag set of command name with the flags add
// registers; -h prints usage (the text above the flags) and then the flags.
func newFlagSet(name, usage string, add func(*flag.FlagSet)) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	add(fs)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args into fs, mapping -h to exit code 0 and other errors to 2.
// ok is false when the caller should return code.
func parseFlags(fs *flag.FlagSet, args []string, s IO) (code int, ok bool) {
	fs.SetOutput(s.Err)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}

// parseOptions parses the flags of command cmd, which takes no other
// arguments (hint, if not empty, says where they go instead), and validates
// them. Problems are written to s.Err; ok is false and code is the exit code
// (0 for -h, 2 otherwise).
func parseOptions(cmd string, fs *flag.FlagSet, args []string, s IO, hint string, validate func() error) (code int, ok bool) {
	if code, ok := parseFlags(fs, args, s); !ok {
		return code, false
	}
	if fs.NArg() > 0 {
		if hint != "" {
			hint = " (" + hint + ")"
		}
		fmt.Fprintf(s.Err, "secure-defaults %s: unexpected argument %q%s\n", cmd, fs.Arg(0), hint)
		return 2, false
	}
	if err := validate(); err != nil {
		fmt.Fprintf(s.Err, "secure-defaults %s: %v\n", cmd, err)
		return 2, false
	}
	return 0, true
}

// loadConfig loads the configuration file given to command cmd with
// --config, or returns config.Default() (the rules as shipped) when path is
// empty. A file that does not load is written to s.Err and ok is false: the
// command exits 2, as for any invalid argument.
func loadConfig(cmd, path string, s IO) (c *config.Configuration, ok bool) {
	if path == "" {
		return config.Default(), true
	}
	c, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults %s: %v\n", cmd, err)
		return nil, false
	}
	return c, true
}

func runVersion(_ context.Context, args []string, s IO) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if code, ok := parseFlags(fs, args, s); !ok {
		return code
	}
	fmt.Fprintln(s.Out, version.String())
	return 0
}
