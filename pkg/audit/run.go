package audit

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// DefaultPageSize is how many objects one list request asks for.
const DefaultPageSize = 500

// podSecurityPrefix is the prefix of the Pod Security namespace labels.
const podSecurityPrefix = "pod-security.kubernetes.io/"

// ErrNamespacesForbidden is returned by Run when every namespace is to be
// audited and the caller may not list namespaces.
var ErrNamespacesForbidden = errors.New("may not list namespaces")

// Options say what to audit and how.
type Options struct {
	// AllNamespaces audits every namespace; otherwise Namespaces are.
	AllNamespaces bool
	Namespaces    []string
	// Selector is a label selector on the workloads ("" for all).
	Selector string
	// PageSize is the limit of each list request (DefaultPageSize when 0).
	PageSize int64
	// Rules are the options the rules run with, as the webhook's
	// configuration gives them; the zero value is the shipped defaults.
	Rules defaults.Options
	// Images, when set, reads what each container's image runs as (the
	// configuration's image lookup), as the webhook does: root images are
	// left to run as root, user names are pinned, and start verdicts are
	// known wherever a lookup succeeds.
	Images *imagelookup.Resolver
	// Progress, when set, is called after every page.
	Progress func(Progress)
}

// Progress is how far a run has come.
type Progress struct {
	// Kind and Namespace ("" for all) name the list being read.
	Kind, Namespace string
	// Objects read so far, and Workloads audited so far.
	Objects, Workloads int
}

// Run audits the cluster behind client as opts say. It changes nothing in
// the cluster. It fails only when the cluster cannot be read at all; every
// other problem is in the report.
func Run(ctx context.Context, client dynamic.Interface, opts Options) (*Report, error) {
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	r := &run{client: client, opts: opts, ev: NewEvaluator(opts.Rules, opts.Images), namespaces: map[string]*Namespace{}}
	if err := r.readNamespaces(ctx); err != nil {
		return nil, err
	}
	for _, k := range kinds {
		if err := r.readKind(ctx, k); err != nil {
			return nil, err
		}
	}
	return r.report(), nil
}

type run struct {
	client     dynamic.Interface
	opts       Options
	ev         *Evaluator
	namespaces map[string]*Namespace
	// skip holds namespaces not to list in (they do not exist).
	skip      map[string]bool
	workloads []Workload
	problems  []Problem
	objects   int
}

// readNamespaces learns the labels of the namespaces in scope.
func (r *run) readNamespaces(ctx context.Context) error {
	api := r.client.Resource(namespacesGVR)
	if r.opts.AllNamespaces {
		err := r.list(ctx, api, "Namespace", "", "", func(items []unstructured.Unstructured) {
			for i := range items {
				r.namespace(items[i].GetName(), items[i].GetLabels())
			}
		})
		if apierrors.IsForbidden(err) {
			return fmt.Errorf("listing namespaces: %w (%v); name the namespaces to audit with -n", ErrNamespacesForbidden, err)
		}
		if err != nil {
			return fmt.Errorf("listing namespaces: %w", err)
		}
		return nil
	}
	r.skip = map[string]bool{}
	for _, name := range r.opts.Namespaces {
		obj, err := api.Get(ctx, name, metav1.GetOptions{})
		switch {
		case err == nil:
			r.namespace(name, obj.GetLabels())
		case apierrors.IsForbidden(err):
			// The workloads may still be readable: a RoleBinding grants
			// the namespace's contents, not always the namespace itself.
			r.problem(name, "Namespace", name, err)
			r.namespaces[name] = &Namespace{Name: name, PodSecurity: map[string]string{}}
		case apierrors.IsNotFound(err):
			r.problem(name, "Namespace", name, err)
			r.skip[name] = true
		default:
			return fmt.Errorf("reading namespace %s: %w", name, err)
		}
	}
	return nil
}

// namespace records a namespace whose labels are known.
func (r *run) namespace(name string, labels map[string]string) {
	ns := &Namespace{Name: name, Inject: labels[defaults.InjectKey], PodSecurity: map[string]string{}, LabelsKnown: true}
	ns.OptedIn = ns.Inject == defaults.InjectEnabled
	for k, v := range labels {
		if rest, ok := strings.CutPrefix(k, podSecurityPrefix); ok {
			ns.PodSecurity[rest] = v
		}
	}
	r.namespaces[name] = ns
}

// readKind audits every object of kind k in scope.
func (r *run) readKind(ctx context.Context, k kind) error {
	api := r.client.Resource(k.GVR)
	audit := func(items []unstructured.Unstructured) { r.auditPage(ctx, k, items) }
	if r.opts.AllNamespaces {
		err := r.list(ctx, api, k.Kind, "", r.opts.Selector, audit)
		if !apierrors.IsForbidden(err) {
			return r.listFailed(ctx, "", k.Kind, err)
		}
		// Not cluster-wide: try each namespace, as a RoleBinding allows.
		r.problem("", k.Kind, "", err)
	}
	for _, ns := range r.namespaceNames() {
		if r.skip[ns] {
			continue
		}
		err := r.list(ctx, api.Namespace(ns), k.Kind, ns, r.opts.Selector, audit)
		if err := r.listFailed(ctx, ns, k.Kind, err); err != nil {
			return err
		}
	}
	return nil
}

// listFailed records a failed list as a problem; only a cancelled context
// stops the run.
func (r *run) listFailed(ctx context.Context, ns, kind string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.problem(ns, kind, "", err)
	return nil
}

// list reads every object of api in pages and hands each page to f. Only one
// page is held at a time.
func (r *run) list(ctx context.Context, api dynamic.ResourceInterface, kind, ns, selector string, f func([]unstructured.Unstructured)) error {
	opts := metav1.ListOptions{Limit: r.opts.PageSize, LabelSelector: selector}
	for {
		page, err := api.List(ctx, opts)
		if err != nil {
			return err
		}
		f(page.Items)
		r.objects += len(page.Items)
		if r.opts.Progress != nil {
			r.opts.Progress(Progress{Kind: kind, Namespace: ns, Objects: r.objects, Workloads: len(r.workloads)})
		}
		if page.GetContinue() == "" {
			return nil
		}
		opts.Continue = page.GetContinue()
	}
}

// auditPage evaluates the objects of one page of kind k: one after another,
// or, with image lookup, lookupWidth at a time, so that registries answer in
// parallel and a page of distinct images does not wait for each in turn.
// Each object is made into its pod where it is evaluated, so no more than
// lookupWidth pods exist at once besides the page. The report's order does
// not depend on which finishes first.
func (r *run) auditPage(ctx context.Context, k kind, items []unstructured.Unstructured) {
	results := make([]Workload, len(items))
	errs := make([]error, len(items))
	skip := make([]bool, len(items))
	evaluate := func(i int) {
		if k.topLevelOnly && coveredByOwner(&items[i]) {
			skip[i] = true
			return
		}
		pod, err := k.podOf(&items[i])
		if err != nil {
			errs[i] = err
			return
		}
		results[i] = r.ev.Evaluate(ctx, pod)
	}
	if r.opts.Images == nil {
		for i := range items {
			evaluate(i)
		}
	} else {
		var wg sync.WaitGroup
		slots := make(chan struct{}, lookupWidth)
		for i := range items {
			slots <- struct{}{}
			wg.Go(func() {
				defer func() { <-slots }()
				evaluate(i)
			})
		}
		wg.Wait()
	}
	for i := range items {
		obj := &items[i]
		switch {
		case skip[i]:
		case errs[i] != nil:
			r.problems = append(r.problems, Problem{
				Namespace: obj.GetNamespace(), Kind: k.Kind, Name: obj.GetName(),
				Reason: ProblemUndecodable, Message: errs[i].Error(),
			})
		default:
			r.record(k, obj, results[i])
		}
	}
}

// lookupWidth is how many workloads an audit with image lookup evaluates at
// once.
const lookupWidth = 16

// record adds w, the evaluation of obj, of kind k, to the report.
func (r *run) record(k kind, obj *unstructured.Unstructured, w Workload) {
	w.Namespace, w.Kind, w.APIVersion, w.Name = obj.GetNamespace(), k.Kind, k.GVR.GroupVersion().String(), obj.GetName()
	r.workloads = append(r.workloads, w)
	ns, ok := r.namespaces[w.Namespace]
	if !ok {
		// Created after the namespaces were read.
		ns = &Namespace{Name: w.Namespace, PodSecurity: map[string]string{}}
		r.namespaces[w.Namespace] = ns
	}
	ns.Counts.add(w)
}

// add counts w.
func (c *Counts) add(w Workload) {
	c.Workloads++
	if len(w.Rules) > 0 {
		c.WouldChange++
	}
	if w.Restricted.Before {
		c.RestrictedBefore++
	}
	if w.Restricted.After {
		c.RestrictedAfter++
	}
	switch w.Start.Verdict {
	case WouldNotStart:
		c.WouldNotStart++
	case StartUnknown:
		c.StartUnknown++
	}
	if w.OptedOut {
		c.OptedOut++
	}
}

func (c *Counts) plus(o Counts) {
	c.Workloads += o.Workloads
	c.WouldChange += o.WouldChange
	c.RestrictedBefore += o.RestrictedBefore
	c.RestrictedAfter += o.RestrictedAfter
	c.WouldNotStart += o.WouldNotStart
	c.StartUnknown += o.StartUnknown
	c.OptedOut += o.OptedOut
}

// problem records a failed request.
func (r *run) problem(ns, kind, name string, err error) {
	reason := ProblemError
	switch {
	case apierrors.IsForbidden(err):
		reason = ProblemForbidden
	case apierrors.IsNotFound(err):
		reason = ProblemNotFound
	}
	r.problems = append(r.problems, Problem{Namespace: ns, Kind: kind, Name: name, Reason: reason, Message: err.Error()})
}

func (r *run) namespaceNames() []string {
	names := make([]string, 0, len(r.namespaces))
	for n := range r.namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// report assembles the sorted report.
func (r *run) report() *Report {
	rep := &Report{
		APIVersion: APIVersion,
		Kind:       ReportKind,
		Scope: Scope{
			AllNamespaces: r.opts.AllNamespaces,
			Namespaces:    nonNil(append([]string(nil), r.opts.Namespaces...)),
			Selector:      r.opts.Selector,
		},
		ImageLookup: r.opts.Images != nil,
		Namespaces:  []Namespace{},
		Workloads:   nonNil(r.workloads),
		Problems:    nonNil(r.problems),
	}
	for _, n := range r.namespaceNames() {
		ns := r.namespaces[n]
		rep.Namespaces = append(rep.Namespaces, *ns)
		rep.Totals.plus(ns.Counts)
	}
	sort.SliceStable(rep.Workloads, func(i, j int) bool {
		a, b := rep.Workloads[i], rep.Workloads[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	sort.SliceStable(rep.Problems, func(i, j int) bool {
		a, b := rep.Problems[i], rep.Problems[j]
		return a.Namespace+"\x00"+a.Kind+"\x00"+a.Name < b.Namespace+"\x00"+b.Kind+"\x00"+b.Name
	})
	return rep
}
