package imagelookup

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/singleflight"
	"k8s.io/utils/lru"
)

// Result is how one lookup ended, the value of the result label of
// secure_defaults_image_lookups_total.
type Result string

const (
	// ResultHit: answered from the cache, without the registry.
	ResultHit Result = "hit"
	// ResultMiss: answered by the registry.
	ResultMiss Result = "miss"
	// ResultError: the registry or the image could not be read.
	ResultError Result = "error"
	// ResultTimeout: no answer within the lookup's time.
	ResultTimeout Result = "timeout"
)

// Observer receives one event per lookup. Implementations must be safe for
// concurrent use.
type Observer interface {
	ObserveImageLookup(result Result, took time.Duration)
}

// ErrTimeout is wrapped by lookups that ran out of time.
var ErrTimeout = errors.New("image lookup timed out")

// maxConfigBytes bounds an image's config blob: real ones are a few KiB.
const maxConfigBytes = 4 << 20

// Resolver looks up what images run as. It is safe for concurrent use; one
// Resolver serves the whole process so its caches are shared.
type Resolver struct {
	cfg        Config
	platforms  []v1.Platform
	keychain   authn.Keychain
	transport  http.RoundTripper
	observer   Observer
	digests    *lru.Cache // digest key -> Facts
	refs       *lru.Cache // image as written in a pod -> refEntry
	failures   *lru.Cache // flight key -> failureEntry
	failureTTL time.Duration
	flights    singleflight.Group
	now        func() time.Time
	budget     byteBudget
	flightTime time.Duration
}

// failureTTL is how long a failed lookup is answered from memory: a
// registry that is down or stalls then costs one lookup timeout per image
// every failureTTL, not one per review.
const failureTTL = 10 * time.Second

// failureEntry is a failed lookup, kept until until.
type failureEntry struct {
	err       error
	at, until time.Time
}

// refEntry is the digest key an image reference, as written, was last seen
// at: for ever for a reference by digest, until expires for a tag.
type refEntry struct {
	key     string
	expires time.Time // zero: never
}

// Option changes a Resolver built by New.
type Option func(*Resolver)

// WithTransport sets the HTTP transport to registries (default: that of
// go-containerregistry, which honours the proxy environment variables).
func WithTransport(t http.RoundTripper) Option { return func(r *Resolver) { r.transport = t } }

// WithKeychain replaces the credentials of Config.DockerConfig: `mutate`
// passes the local user's docker keychain.
func WithKeychain(k authn.Keychain) Option { return func(r *Resolver) { r.keychain = k } }

// WithObserver records every lookup in o.
func WithObserver(o Observer) Option { return func(r *Resolver) { r.observer = o } }

// New returns a Resolver for cfg, which is defaulted and validated here.
func New(cfg Config, opts ...Option) (*Resolver, error) {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	platforms, _ := parsePlatforms(cfg.Platforms)
	r := &Resolver{
		cfg:        cfg,
		platforms:  platforms,
		keychain:   authn.NewMultiKeychain(),
		transport:  remote.DefaultTransport,
		observer:   nopObserver{},
		digests:    lru.New(cfg.CacheSize),
		refs:       lru.New(cfg.CacheSize),
		failures:   lru.New(cfg.CacheSize),
		failureTTL: failureTTL,
		now:        time.Now,
		budget:     byteBudget{compressed: cfg.MaxLayerBytes, uncompressed: cfg.MaxUncompressedBytes},
		// The shared registry work outlives a review that gives up on it,
		// so a slow registry still fills the cache for the next review.
		flightTime: cfg.Timeout,
	}
	if cfg.DockerConfig != "" {
		r.keychain = fileKeychain{path: cfg.DockerConfig}
	}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// Config returns the defaulted configuration the Resolver runs with.
func (r *Resolver) Config() Config { return r.cfg }

type nopObserver struct{}

func (nopObserver) ObserveImageLookup(Result, time.Duration) {}

// Lookup returns the facts of image, a reference as written in a pod. It
// waits at most the configured timeout and never past ctx's deadline; the
// error then wraps ErrTimeout. creds, if not nil, are tried before the
// Resolver's own (a pod's imagePullSecrets); credKey names them, so that
// lookups with different credentials do not share one registry request.
func (r *Resolver) Lookup(ctx context.Context, image string, creds authn.Keychain, credKey string) (Facts, error) {
	start := r.now()
	f, res, err := r.lookup(ctx, image, creds, credKey)
	r.observer.ObserveImageLookup(res, r.now().Sub(start))
	return f, err
}

func (r *Resolver) lookup(ctx context.Context, image string, creds authn.Keychain, credKey string) (Facts, Result, error) {
	if f, ok := r.cached(image); ok {
		return f, ResultHit, nil
	}
	ref, err := name.ParseReference(image)
	if err != nil {
		return Facts{}, ResultError, fmt.Errorf("image %q: %w", image, err)
	}
	if d, ok := ref.(name.Digest); ok {
		// The same digest written another way ("docker.io/library/x@...").
		key := digestKey(d.Context(), d.DigestStr())
		if v, ok := r.digests.Get(key); ok {
			r.refs.Add(image, refEntry{key: key})
			return v.(Facts), ResultHit, nil
		}
	}
	flight := ref.Name() + "\x00" + credKey
	if v, ok := r.failures.Get(flight); ok {
		if e := v.(failureEntry); r.now().Before(e.until) {
			res := ResultError
			if errors.Is(e.err, ErrTimeout) {
				res = ResultTimeout
			}
			return Facts{}, res, fmt.Errorf("image %q: %w (from %s ago; asked again after %s)", image, e.err, r.now().Sub(e.at).Round(time.Millisecond), r.failureTTL)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	ch := r.flights.DoChan(flight, func() (any, error) {
		fctx, fcancel := context.WithTimeout(context.Background(), r.flightTime)
		defer fcancel()
		f, err := r.fetch(fctx, image, ref, creds)
		if err != nil && fctx.Err() != nil {
			err = fmt.Errorf("%w after %s: %w", ErrTimeout, r.flightTime, err)
		}
		if err != nil {
			now := r.now()
			r.failures.Add(flight, failureEntry{err: err, at: now, until: now.Add(r.failureTTL)})
		}
		return f, err
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			if errors.Is(res.Err, ErrTimeout) {
				return Facts{}, ResultTimeout, fmt.Errorf("image %q: %w", image, res.Err)
			}
			return Facts{}, ResultError, fmt.Errorf("image %q: %w", image, res.Err)
		}
		return res.Val.(Facts), ResultMiss, nil
	case <-ctx.Done():
		return Facts{}, ResultTimeout, fmt.Errorf("image %q: %w: %w", image, ErrTimeout, context.Cause(ctx))
	}
}

// cached returns the facts of image, as written in a pod, from the caches
// without parsing it: a reference by digest seen before, or a tag whose
// digest was seen less than TagTTL ago.
func (r *Resolver) cached(image string) (Facts, bool) {
	v, ok := r.refs.Get(image)
	if !ok {
		return Facts{}, false
	}
	e := v.(refEntry)
	if !e.expires.IsZero() && !r.now().Before(e.expires) {
		return Facts{}, false
	}
	if v, ok = r.digests.Get(e.key); !ok {
		return Facts{}, false
	}
	return v.(Facts), true
}

// digestKey keys the result cache: the repository and the digest.
func digestKey(repo name.Repository, digest string) string {
	return repo.Name() + "@" + digest
}

// fetch reads ref's facts from its registry and caches them.
func (r *Resolver) fetch(ctx context.Context, image string, ref name.Reference, creds authn.Keychain) (Facts, error) {
	kc := r.keychain
	if creds != nil {
		kc = authn.NewMultiKeychain(creds, r.keychain)
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(r.transport),
		remote.WithAuthFromKeychain(kc),
		// One try: the lookup's deadline is too short for back-offs, and a
		// failed lookup costs only a default.
		remote.WithRetryBackoff(remote.Backoff{Steps: 1}),
	}
	desc, err := remote.Get(ref, opts...)
	if err != nil {
		return Facts{}, err
	}
	digest := desc.Digest.String()
	key := digestKey(ref.Context(), digest)
	entry := refEntry{key: key}
	if _, ok := ref.(name.Tag); ok {
		entry.expires = r.now().Add(r.cfg.TagTTL)
	}
	if v, ok := r.digests.Get(key); ok {
		r.refs.Add(image, entry)
		return v.(Facts), nil // the tag moved to an image already known
	}
	var f Facts
	if desc.MediaType.IsIndex() {
		f, err = r.indexFacts(desc)
	} else {
		var img v1.Image
		if img, err = desc.Image(); err == nil {
			f, err = r.imageFacts(img)
		}
	}
	if err != nil {
		return Facts{}, err
	}
	f.Digest = digest
	r.digests.Add(key, f)
	r.refs.Add(image, entry)
	return f, nil
}

// indexFacts reads the configured platforms of an index. Platforms that
// disagree make the image count as root: the pod may run on any of them.
func (r *Resolver) indexFacts(desc *remote.Descriptor) (Facts, error) {
	idx, err := desc.ImageIndex()
	if err != nil {
		return Facts{}, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return Facts{}, err
	}
	var facts []Facts
	var names []string
	for _, want := range r.platforms {
		for _, m := range im.Manifests {
			if m.Platform == nil || !m.Platform.Satisfies(want) || !m.MediaType.IsImage() {
				continue
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				return Facts{}, err
			}
			f, err := r.imageFacts(img)
			if err != nil {
				return Facts{}, fmt.Errorf("platform %s: %w", want, err)
			}
			facts, names = append(facts, f), append(names, want.String())
			break
		}
	}
	if len(facts) == 0 {
		return Facts{}, fmt.Errorf("the image has no manifest for %s", strings.Join(r.cfg.Platforms, ", "))
	}
	for i := 1; i < len(facts); i++ {
		if !sameUser(facts[0], facts[i]) {
			return Facts{
				User:    facts[0].User,
				Verdict: VerdictRoot,
				Reason: fmt.Sprintf("its platforms disagree on the user (%s: %q, %s: %q), so it is treated as running as root",
					names[0], facts[0].User, names[i], facts[i].User),
			}, nil
		}
	}
	return facts[0], nil
}

func sameUser(a, b Facts) bool {
	return a.Verdict == b.Verdict && eqID(a.UID, b.UID) && eqID(a.GID, b.GID) &&
		(a.Verdict != VerdictNonRoot || a.User == b.User)
}

func eqID(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// imageFacts reads one image's configured user and, for a user name, its
// /etc/passwd and /etc/group.
func (r *Resolver) imageFacts(img v1.Image) (Facts, error) {
	m, err := img.Manifest()
	if err != nil {
		return Facts{}, err
	}
	if m.Config.Size > maxConfigBytes {
		return Facts{}, fmt.Errorf("%w: the image config is %d bytes", ErrTooLarge, m.Config.Size)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return Facts{}, err
	}
	user := cf.Config.User
	wantPasswd, wantGroup := parseUser(strings.TrimSpace(user)).needsFiles()
	if !wantPasswd {
		return decide(user, nil, nil, nil), nil
	}
	layers, err := img.Layers()
	if err != nil {
		return Facts{}, err
	}
	passwd, group, err := readEtcFiles(layers, wantPasswd, wantGroup, r.budget)
	if err != nil && !unresolvable(err) {
		return Facts{}, err
	}
	return decide(user, passwd, group, err), nil
}

// unresolvable reports whether err is a property of the image (too large, a
// file that is not a file) rather than of the network: such an image's user
// name is unresolvable for good and the result is cached.
func unresolvable(err error) bool {
	return errors.Is(err, ErrTooLarge) || errors.Is(err, errNotRegular)
}

// LookupAll looks up every distinct image of images in parallel and returns
// the outcome of each, keyed by image. It returns when all are answered or
// timed out.
func (r *Resolver) LookupAll(ctx context.Context, images []string, creds authn.Keychain, credKey string) map[string]Outcome {
	out := make(map[string]Outcome, len(images))
	seen := make(map[string]bool, len(images))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, img := range images {
		if seen[img] {
			continue
		}
		seen[img] = true
		// Cache hits, the common case, cost no goroutine.
		if f, ok := r.cached(img); ok {
			r.observer.ObserveImageLookup(ResultHit, 0)
			mu.Lock()
			out[img] = Outcome{Facts: f}
			mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := r.Lookup(ctx, img, creds, credKey)
			mu.Lock()
			out[img] = Outcome{Facts: f, Err: err}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// Outcome is one image's facts, or why they are not known.
type Outcome struct {
	Facts Facts
	Err   error
}
