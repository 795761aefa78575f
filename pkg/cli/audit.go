package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/secure-defaults/secure-defaults/pkg/audit"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// exitFailOn is the exit code when a --fail-on condition holds.
const exitFailOn = 3

// Conditions of --fail-on.
const (
	failOnWouldNotStart   = "would-not-start"
	failOnWouldChange     = "would-change"
	failOnFailsRestricted = "fails-restricted"
)

const auditUsage = `Usage: secure-defaults audit [-n NS[,NS]... | -A] [-l SELECTOR] [-o table|wide|json]
                            [--kubeconfig FILE] [--context NAME] [--fail-on COND[,COND]]
                            [--config FILE]

Reports what opting in to secure-defaults would do to the workloads of a live
cluster, without changing anything: for each Deployment, StatefulSet,
DaemonSet, CronJob, and each Job, ReplicaSet, ReplicationController and Pod no
controller owns, the rules that would apply to its pods, whether they pass Pod
Security "restricted" before and after, what still fails it, the containers
that keep root and why, and whether they would still start. Then a summary
per namespace, with its opt-in and Pod Security labels. With --config the
rules run as the webhook runs them with that configuration file.

The cluster is found as kubectl finds it: --kubeconfig, else $KUBECONFIG,
else ~/.kube/config, else the in-cluster service account. Without -n or -A,
the context's namespace is audited. The ClusterRole secure-defaults-auditor
(deploy/) grants what the audit reads.

Namespaces or kinds the caller may not list are reported on stderr (and in
the JSON report) and skipped. Exit status: 0, or 3 when a --fail-on condition
holds (would-not-start, would-change, fails-restricted: fails Pod Security
"restricted" even after the rules), 1 when the cluster cannot be read, 2 for
usage errors.

Flags:
`

// stringList is a repeatable, comma-separated flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

type auditOptions struct {
	kubeconfig, context string
	namespaces          stringList
	all                 bool
	selector, output    string
	failOn              stringList
	chunkSize           int64
	config              string
}

func (o *auditOptions) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig `FILE` (default: $KUBECONFIG, ~/.kube/config, or in-cluster)")
	fs.StringVar(&o.context, "context", "", "kubeconfig context to use (default: the current context)")
	fs.Var(&o.namespaces, "namespace", "namespace(s) to audit, comma-separated or repeated (default: the context's namespace)")
	fs.Var(&o.namespaces, "n", "same as --namespace")
	fs.BoolVar(&o.all, "all-namespaces", false, "audit every namespace")
	fs.BoolVar(&o.all, "A", false, "same as --all-namespaces")
	fs.StringVar(&o.selector, "selector", "", "label `SELECTOR` on the workloads, as kubectl -l")
	fs.StringVar(&o.selector, "l", "", "same as --selector")
	fs.StringVar(&o.output, "output", audit.OutputTable, "output format: table, wide or json")
	fs.StringVar(&o.output, "o", audit.OutputTable, "same as --output")
	fs.Var(&o.failOn, "fail-on", "exit 3 when a workload would-not-start, would-change, or fails-restricted after the rules (comma-separated)")
	fs.Int64Var(&o.chunkSize, "chunk-size", audit.DefaultPageSize, "objects per list request")
	fs.StringVar(&o.config, "config", "", "configuration `FILE` (kind: Configuration), as given to serve --config: which rules run and with what settings")
}

func (o *auditOptions) validate() error {
	var errs []error
	if o.all && len(o.namespaces) > 0 {
		errs = append(errs, errors.New("-A and -n cannot be used together"))
	}
	if o.output != audit.OutputTable && o.output != audit.OutputWide && o.output != audit.OutputJSON {
		errs = append(errs, fmt.Errorf("--output must be table, wide or json, not %q", o.output))
	}
	if _, err := labels.Parse(o.selector); err != nil {
		errs = append(errs, fmt.Errorf("--selector: %w", err))
	}
	for _, c := range o.failOn {
		if c != failOnWouldNotStart && c != failOnWouldChange && c != failOnFailsRestricted {
			errs = append(errs, fmt.Errorf("--fail-on: unknown condition %q (want %s, %s or %s)", c, failOnWouldNotStart, failOnWouldChange, failOnFailsRestricted))
		}
	}
	if o.chunkSize < 1 {
		errs = append(errs, errors.New("--chunk-size must be at least 1"))
	}
	return errors.Join(errs...)
}

// runAudit reads the cluster, writes the report, and returns 0, or 3 when a
// --fail-on condition holds.
func runAudit(ctx context.Context, args []string, s IO) int {
	o := &auditOptions{}
	fs := newFlagSet("audit", auditUsage, o.addFlags)
	if code, ok := parseOptions("audit", fs, args, s, "", o.validate); !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(s.Err, "secure-defaults audit: %v\n", err)
		return 1
	}
	c, ok := loadConfig("audit", o.config, s)
	if !ok {
		return 2
	}
	rules := c.Options()
	// As mutate: images are read with this machine's docker credentials.
	// The pods' imagePullSecrets are not read: the auditor may not read
	// Secrets.
	images, err := imageResolver(c, imagelookup.WithKeychain(authn.DefaultKeychain))
	if err != nil {
		fmt.Fprintf(s.Err, "secure-defaults audit: %v\n", err)
		return 2
	}
	if images != nil && images.Config().PullSecrets {
		fmt.Fprintln(s.Err, "note: imageLookup.pullSecrets is not acted on: the audit reads images with this machine's docker credentials, not the pods' imagePullSecrets")
	}

	cfg, ns, err := o.clientConfig()
	if err != nil {
		return fail(err)
	}
	if !o.all && len(o.namespaces) == 0 {
		o.namespaces = stringList{ns}
	}
	if err := reachable(ctx, cfg); err != nil {
		return fail(err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fail(err)
	}

	p := newProgress(s.Err)
	rep, err := audit.Run(ctx, client, audit.Options{
		AllNamespaces: o.all,
		Namespaces:    o.namespaces,
		Selector:      o.selector,
		PageSize:      o.chunkSize,
		Rules:         rules,
		Images:        images,
		Progress:      p.update,
	})
	p.stop()
	if err != nil {
		return fail(err)
	}
	rep.Config = o.config
	for _, pr := range rep.Problems {
		fmt.Fprintf(s.Err, "warning: %s\n", describeProblem(pr))
	}
	if !rep.ImageLookup && rep.Totals.StartUnknown > 0 {
		fmt.Fprintf(s.Err, "note: %d workload(s) get runAsNonRoot without a runAsUser: whether they start depends on their images' users, which an audit without image lookup cannot know (START unknown)\n", rep.Totals.StartUnknown)
	}
	if err := audit.Render(s.Out, rep, o.output); err != nil {
		return fail(err)
	}
	return failOn(o.failOn, rep, s.Err)
}

// clientConfig loads the kubeconfig as kubectl does and returns it with the
// context's namespace.
func (o *auditOptions) clientConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.kubeconfig
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the cluster configuration: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("loading the cluster configuration: %w", err)
	}
	// A few list requests per kind and namespace: client-side throttling at
	// client-go's default of 5/s would dominate a run over many namespaces.
	cfg.QPS, cfg.Burst = 50, 100
	cfg.Timeout = time.Minute
	cfg.UserAgent = "secure-defaults-audit"
	return cfg, ns, nil
}

// reachable asks the API server for its version, so that a cluster that
// cannot be reached or refuses the credentials fails with one clear message.
func reachable(ctx context.Context, cfg *rest.Config) error {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cs.Discovery().RESTClient().Get().AbsPath("/version").Do(ctx).Error(); err != nil {
		return fmt.Errorf("cannot reach the API server at %s: %w", cfg.Host, err)
	}
	return nil
}

func describeProblem(p audit.Problem) string {
	where := "cluster-wide"
	if p.Namespace != "" {
		where = "namespace " + p.Namespace
	}
	what := p.Kind
	if p.Name != "" {
		what += " " + p.Name
	}
	return fmt.Sprintf("%s: %s: %s, skipped: %s", where, what, p.Reason, p.Message)
}

// failOn returns exitFailOn when any of conds holds for rep, naming it.
func failOn(conds []string, rep *audit.Report, w io.Writer) int {
	code := 0
	for _, c := range conds {
		n := 0
		for _, wl := range rep.Workloads {
			switch c {
			case failOnWouldNotStart:
				if wl.Start.Verdict == audit.WouldNotStart {
					n++
				}
			case failOnWouldChange:
				if len(wl.Rules) > 0 {
					n++
				}
			case failOnFailsRestricted:
				if !wl.Restricted.After {
					n++
				}
			}
		}
		if n > 0 {
			fmt.Fprintf(w, "secure-defaults audit: --fail-on=%s: %d workload(s)\n", c, n)
			code = exitFailOn
		}
	}
	return code
}

// progress prints a line on stderr once a run has taken more than a second:
// rewritten in place on a terminal, every few seconds otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	mu       sync.Mutex
	last     audit.Progress
	done     chan struct{}
	wg       sync.WaitGroup
	printed  bool
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, terminal: isTerminal(w), done: make(chan struct{})}
	every := 5 * time.Second
	if p.terminal {
		every = 200 * time.Millisecond
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-p.done:
			return
		case <-time.After(time.Second):
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			p.print()
			select {
			case <-p.done:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

func (p *progress) update(pr audit.Progress) {
	p.mu.Lock()
	p.last = pr
	p.mu.Unlock()
}

func (p *progress) print() {
	p.mu.Lock()
	pr := p.last
	p.mu.Unlock()
	where := "all namespaces"
	if pr.Namespace != "" {
		where = "namespace " + pr.Namespace
	}
	line := fmt.Sprintf("audit: %d objects read, %d workloads audited (%ss in %s)", pr.Objects, pr.Workloads, pr.Kind, where)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	} else {
		fmt.Fprintln(p.w, line)
	}
	p.printed = true
}

func (p *progress) stop() {
	close(p.done)
	p.wg.Wait()
	if p.printed && p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
