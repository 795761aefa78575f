package imagelookup_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	ilt "github.com/secure-defaults/secure-defaults/internal/imagelookuptest"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// recorder counts lookups by result.
type recorder struct {
	mu     sync.Mutex
	counts map[imagelookup.Result]int
}

func (r *recorder) ObserveImageLookup(res imagelookup.Result, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts = map[imagelookup.Result]int{}
	}
	r.counts[res]++
}

func (r *recorder) get(res imagelookup.Result) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[res]
}

func newResolver(t testing.TB, reg *ilt.Registry, tweak func(*imagelookup.Config), opts ...imagelookup.Option) *imagelookup.Resolver {
	t.Helper()
	cfg := imagelookup.Config{Enabled: true}
	if tweak != nil {
		tweak(&cfg)
	}
	r, err := imagelookup.New(cfg, append([]imagelookup.Option{imagelookup.WithTransport(reg.Transport)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func i64(v int64) *int64 { return &v }

func TestLookupUsers(t *testing.T) {
	reg := ilt.New(t)
	passwd := map[string]string{"etc/": "", "etc/passwd": ilt.Passwd("app:1000:1001", "zero:0:0"), "etc/group": "root:x:0:\nstaff:x:50:app\n"}
	cases := []struct {
		name    string
		img     func(t *testing.T) v1.Image
		verdict imagelookup.Verdict
		uid     *int64
		gid     *int64
		reason  string
	}{
		{name: "numeric user", img: func(t *testing.T) v1.Image { return ilt.Image(t, "65532") }, verdict: imagelookup.VerdictNonRoot},
		{name: "numeric user and group", img: func(t *testing.T) v1.Image { return ilt.Image(t, "65532:65532") }, verdict: imagelookup.VerdictNonRoot},
		{name: "no user", img: func(t *testing.T) v1.Image { return ilt.Image(t, "", passwd) }, verdict: imagelookup.VerdictRoot, reason: "sets no user"},
		{name: "UID 0", img: func(t *testing.T) v1.Image { return ilt.Image(t, "0") }, verdict: imagelookup.VerdictRoot, reason: "UID 0"},
		{name: "UID 0 with a group", img: func(t *testing.T) v1.Image { return ilt.Image(t, "0:1000") }, verdict: imagelookup.VerdictRoot, reason: "UID 0"},
		{name: "root by name", img: func(t *testing.T) v1.Image { return ilt.Image(t, "root", passwd) }, verdict: imagelookup.VerdictRoot, reason: "UID 0 in its /etc/passwd"},
		{name: "a name for UID 0", img: func(t *testing.T) v1.Image { return ilt.Image(t, "zero", passwd) }, verdict: imagelookup.VerdictRoot, reason: "UID 0"},
		{name: "user name resolved through passwd", img: func(t *testing.T) v1.Image { return ilt.Image(t, "app", passwd) }, verdict: imagelookup.VerdictPin, uid: i64(1000)},
		{name: "user and group names", img: func(t *testing.T) v1.Image { return ilt.Image(t, "app:staff", passwd) }, verdict: imagelookup.VerdictPin, uid: i64(1000), gid: i64(50)},
		{name: "user name and numeric group", img: func(t *testing.T) v1.Image { return ilt.Image(t, "app:2000", passwd) }, verdict: imagelookup.VerdictPin, uid: i64(1000), gid: i64(2000)},
		{name: "group name not in /etc/group", img: func(t *testing.T) v1.Image { return ilt.Image(t, "app:wheel", passwd) }, verdict: imagelookup.VerdictRoot, reason: "group is not in its /etc/group"},
		{name: "passwd in a lower layer, other files above", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", passwd, map[string]string{"usr/bin/app": "binary", "etc/hosts": "x"})
		}, verdict: imagelookup.VerdictPin, uid: i64(1000)},
		{name: "a higher passwd replaces a lower one", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", passwd, map[string]string{"etc/passwd": ilt.Passwd("app:2000:2000")})
		}, verdict: imagelookup.VerdictPin, uid: i64(2000)},
		{name: "a higher passwd without the user", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", passwd, map[string]string{"etc/passwd": ilt.Passwd("other:3000:3000")})
		}, verdict: imagelookup.VerdictRoot, reason: "not in its /etc/passwd"},
		{name: "passwd removed by a whiteout", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", passwd, map[string]string{"etc/.wh.passwd": ""})
		}, verdict: imagelookup.VerdictRoot, reason: "has no /etc/passwd"},
		{name: "etc made opaque", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", passwd, map[string]string{"etc/.wh..wh..opq": "", "etc/hostname": "x"})
		}, verdict: imagelookup.VerdictRoot, reason: "has no /etc/passwd"},
		{name: "etc removed by a whiteout", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", passwd, map[string]string{".wh.etc": ""})
		}, verdict: imagelookup.VerdictRoot, reason: "has no /etc/passwd"},
		{name: "whiteout below the passwd that wins", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", map[string]string{"etc/.wh.passwd": ""}, passwd)
		}, verdict: imagelookup.VerdictPin, uid: i64(1000)},
		{name: "passwd spelled with ./", img: func(t *testing.T) v1.Image {
			return ilt.Image(t, "app", map[string]string{"./etc/passwd": ilt.Passwd("app:1234:1234")})
		}, verdict: imagelookup.VerdictPin, uid: i64(1234)},
		{name: "no passwd at all", img: func(t *testing.T) v1.Image { return ilt.Image(t, "app") }, verdict: imagelookup.VerdictRoot, reason: "has no /etc/passwd"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			byDigest := reg.Push(t, fmt.Sprintf("users/%d", i), "v1", tc.img(t))
			byTag := reg.Host + fmt.Sprintf("/users/%d:v1", i)
			for _, ref := range []string{byDigest, byTag} {
				r := newResolver(t, reg, nil)
				f, err := r.Lookup(context.Background(), ref, nil, "")
				if err != nil {
					t.Fatalf("%s: %v", ref, err)
				}
				if f.Verdict != tc.verdict || !eq(f.UID, tc.uid) || !eq(f.GID, tc.gid) {
					t.Errorf("%s: got %s uid %s gid %s (%s), want %s uid %s gid %s", ref, f.Verdict, show(f.UID), show(f.GID), f.Reason, tc.verdict, show(tc.uid), show(tc.gid))
				}
				if !strings.Contains(f.Reason, tc.reason) {
					t.Errorf("%s: reason %q does not say %q", ref, f.Reason, tc.reason)
				}
				if want := byDigest[strings.LastIndex(byDigest, "@")+1:]; f.Digest != want {
					t.Errorf("%s: digest %s, want %s", ref, f.Digest, want)
				}
			}
		})
	}
}

func eq(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func show(p *int64) string {
	if p == nil {
		return "<nil>"
	}
	return fmt.Sprint(*p)
}

func TestLookupIndex(t *testing.T) {
	reg := ilt.New(t)
	passwd := map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}
	idx := ilt.Index(t, []string{"linux/amd64", "linux/arm64", "linux/s390x"},
		ilt.Image(t, "app", passwd), ilt.Image(t, "0"), ilt.Image(t, "app", passwd))
	ref := reg.Push(t, "multi", "v1", idx)
	cases := []struct {
		name      string
		platforms []string
		verdict   imagelookup.Verdict
		reason    string
		err       string
	}{
		{name: "linux/amd64 by default", verdict: imagelookup.VerdictPin},
		{name: "another platform", platforms: []string{"linux/arm64"}, verdict: imagelookup.VerdictRoot, reason: "UID 0"},
		{name: "platforms that agree", platforms: []string{"linux/amd64", "linux/s390x"}, verdict: imagelookup.VerdictPin},
		{name: "platforms that disagree", platforms: []string{"linux/amd64", "linux/arm64"}, verdict: imagelookup.VerdictRoot, reason: "platforms disagree"},
		{name: "no such platform", platforms: []string{"linux/riscv64"}, err: "no manifest for linux/riscv64"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newResolver(t, reg, func(c *imagelookup.Config) { c.Platforms = tc.platforms })
			f, err := r.Lookup(context.Background(), ref, nil, "")
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Verdict != tc.verdict || !strings.Contains(f.Reason, tc.reason) {
				t.Errorf("got %s (%s), want %s (%s)", f.Verdict, f.Reason, tc.verdict, tc.reason)
			}
		})
	}
}

// TestLookupByteLimits puts a large layer above the one with /etc/passwd:
// the lookup stops at the limit, reads no more from the registry than it
// allows, and the user name counts as unresolvable.
func TestLookupByteLimits(t *testing.T) {
	reg := ilt.New(t)
	random := make([]byte, 3<<20)
	if _, err := rand.Read(random); err != nil {
		t.Fatal(err)
	}
	passwd := map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}
	cases := []struct {
		name  string
		big   map[string]string
		tweak func(*imagelookup.Config)
		limit int64
	}{
		{name: "compressed", big: map[string]string{"opt/blob": string(random)}, limit: 1 << 20, tweak: func(c *imagelookup.Config) {
			c.MaxLayerBytes = 1 << 20
		}},
		{name: "uncompressed", big: map[string]string{"opt/zeros": strings.Repeat("\x00", 32<<20)}, limit: 4 << 20, tweak: func(c *imagelookup.Config) {
			c.MaxUncompressedBytes = 4 << 20
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.Push(t, "big-"+tc.name, "v1", ilt.Image(t, "app", passwd, tc.big))
			r := newResolver(t, reg, tc.tweak)
			before := reg.BlobBytes.Load()
			f, err := r.Lookup(context.Background(), ref, nil, "")
			if err != nil {
				t.Fatal(err)
			}
			if f.Verdict != imagelookup.VerdictRoot || !strings.Contains(f.Reason, "byte limit") {
				t.Errorf("got %s (%s), want root because of the byte limit", f.Verdict, f.Reason)
			}
			// The config blob and the part of the layer read before the
			// limit; the stream is cut there, not drained.
			if read := reg.BlobBytes.Load() - before; read > tc.limit+(1<<20) {
				t.Errorf("read %d bytes of blobs, limit %d", read, tc.limit)
			}
			// Without the limit the same image resolves.
			r = newResolver(t, reg, nil)
			if f, err := r.Lookup(context.Background(), ref, nil, ""); err != nil || f.Verdict != imagelookup.VerdictPin {
				t.Errorf("without the limit: got %s (%s), %v; want pin", f.Verdict, f.Reason, err)
			}
		})
	}
}

func TestLookupRegistryFailures(t *testing.T) {
	cases := []struct {
		name   string
		status int
		result imagelookup.Result
		err    string
	}{
		{name: "500", status: http.StatusInternalServerError, result: imagelookup.ResultError, err: "500"},
		{name: "401", status: http.StatusUnauthorized, result: imagelookup.ResultError, err: "401"},
		{name: "404", status: http.StatusNotFound, result: imagelookup.ResultError, err: "404"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reg := ilt.New(t)
			ref := reg.Push(t, "app", "v1", ilt.Image(t, "65532"))
			reg.Gate(func(req *http.Request) (int, bool) {
				if req.URL.Path == "/v2/" {
					return 0, false
				}
				return tc.status, false
			})
			rec := &recorder{}
			r := newResolver(t, reg, nil, imagelookup.WithObserver(rec))
			imagelookup.SetFailureTTL(r, 50*time.Millisecond)
			_, err := r.Lookup(context.Background(), ref, nil, "")
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want an error with %s", err, tc.err)
			}
			if rec.get(tc.result) != 1 {
				t.Errorf("results %v, want one %s", rec.counts, tc.result)
			}
			// For a while the failure is answered from memory: a registry
			// that is down costs one lookup per image, not one per review.
			asked := reg.Requests.Load()
			if _, err := r.Lookup(context.Background(), ref, nil, ""); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("again at once: %v, want the same failure", err)
			}
			if reg.Requests.Load() != asked {
				t.Error("a failure seconds old sent the lookup to the registry again")
			}
			if rec.get(tc.result) != 2 {
				t.Errorf("results %v, want two %s", rec.counts, tc.result)
			}
			// Then the registry is asked again, and once it answers, so
			// does the lookup.
			reg.Gate(nil)
			time.Sleep(60 * time.Millisecond)
			if f, err := r.Lookup(context.Background(), ref, nil, ""); err != nil || f.Verdict != imagelookup.VerdictNonRoot {
				t.Errorf("after recovery: %s, %v", f.Verdict, err)
			}
		})
	}
}

// TestLookupStall: a registry that never answers costs a review no more than
// the lookup timeout, or the review's own deadline when that is sooner.
func TestLookupStall(t *testing.T) {
	reg := ilt.New(t)
	ref := reg.Push(t, "app", "v1", ilt.Image(t, "65532"))
	reg.Gate(func(*http.Request) (int, bool) { return 0, true })
	cases := []struct {
		name     string
		timeout  time.Duration
		deadline time.Duration
	}{
		{name: "lookup timeout", timeout: 200 * time.Millisecond, deadline: time.Hour},
		{name: "review deadline", timeout: time.Hour, deadline: 200 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			r := newResolver(t, reg, func(c *imagelookup.Config) { c.Timeout = tc.timeout }, imagelookup.WithObserver(rec))
			ctx, cancel := context.WithTimeout(context.Background(), tc.deadline)
			defer cancel()
			done := make(chan error, 1)
			go func() {
				_, err := r.Lookup(ctx, ref, nil, "")
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, imagelookup.ErrTimeout) {
					t.Fatalf("got %v, want a timeout", err)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the lookup did not return while the registry stalled")
			}
			if rec.get(imagelookup.ResultTimeout) != 1 {
				t.Errorf("results %v, want one timeout", rec.counts)
			}
		})
	}
}

func TestLookupBasicAuth(t *testing.T) {
	reg := ilt.New(t, ilt.WithBasicAuth("puller", "s3cret"))
	ref := reg.Push(t, "private", "v1", ilt.Image(t, "app", map[string]string{"etc/passwd": ilt.Passwd("app:1000:1000")}))
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "config.json")
	write := func(user, pass string) {
		t.Helper()
		body := fmt.Sprintf(`{"auths":{%q:{"username":%q,"password":%q}}}`, "https://"+reg.Host, user, pass)
		if err := os.WriteFile(cfgFile, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	anon := newResolver(t, reg, nil)
	if _, err := anon.Lookup(context.Background(), ref, nil, ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("anonymous: got %v, want 401", err)
	}

	write("puller", "wrong")
	r := newResolver(t, reg, func(c *imagelookup.Config) { c.DockerConfig = cfgFile })
	imagelookup.SetFailureTTL(r, 0) // each lookup below asks the registry
	_, err := r.Lookup(context.Background(), ref, nil, "")
	if err == nil {
		t.Fatal("wrong password: no error")
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("the error shows the password: %v", err)
	}

	// The file is read again at each registry lookup: a rotated Secret
	// takes effect without a restart.
	write("puller", "s3cret")
	f, err := r.Lookup(context.Background(), ref, nil, "")
	if err != nil || f.Verdict != imagelookup.VerdictPin || *f.UID != 1000 {
		t.Fatalf("with the credentials: %+v, %v", f, err)
	}

	// Credentials given with the lookup (a pod's pull secrets) work too.
	dc, err := imagelookup.ParseDockerConfig([]byte(fmt.Sprintf(`{"auths":{%q:{"auth":"cHVsbGVyOnMzY3JldA=="}}}`, reg.Host)))
	if err != nil {
		t.Fatal(err)
	}
	if f, err := newResolver(t, reg, nil).Lookup(context.Background(), ref, dc, "ns/secret"); err != nil || f.Verdict != imagelookup.VerdictPin {
		t.Fatalf("with pull secret credentials: %+v, %v", f, err)
	}
}

func TestLookupCache(t *testing.T) {
	reg := ilt.New(t)
	ref := reg.Push(t, "app", "v1", ilt.Image(t, "65532"))
	tag := reg.Host + "/app:v1"
	rec := &recorder{}
	r := newResolver(t, reg, func(c *imagelookup.Config) { c.TagTTL = 50 * time.Millisecond }, imagelookup.WithObserver(rec))
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		if _, err := r.Lookup(ctx, ref, nil, ""); err != nil {
			t.Fatal(err)
		}
	}
	if rec.get(imagelookup.ResultMiss) != 1 || rec.get(imagelookup.ResultHit) != 2 {
		t.Errorf("by digest: %v, want 1 miss and 2 hits", rec.counts)
	}
	manifests := reg.ManifestRequests.Load()
	if _, err := r.Lookup(ctx, tag, nil, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Lookup(ctx, tag, nil, ""); err != nil {
		t.Fatal(err)
	}
	if got := reg.ManifestRequests.Load() - manifests; got != 1 {
		t.Errorf("a tag within its TTL: %d manifest requests, want 1", got)
	}
	// The first asked the registry where the tag points (a miss, though
	// the image was not read again); the second did not (a hit).
	if rec.get(imagelookup.ResultHit) != 3 || rec.get(imagelookup.ResultMiss) != 2 {
		t.Errorf("a tag: %v, want 3 hits and 2 misses in all", rec.counts)
	}
	// Past the TTL the tag is resolved again: it may have moved.
	time.Sleep(60 * time.Millisecond)
	pushed := reg.Push(t, "app", "v1", ilt.Image(t, "0"))
	f, err := r.Lookup(ctx, tag, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Verdict != imagelookup.VerdictRoot || !strings.HasSuffix(pushed, f.Digest) {
		t.Errorf("after the tag moved: %s %s, want root at %s", f.Verdict, f.Digest, pushed)
	}
}

// TestLookupSharesRequests: concurrent lookups of one image make one request
// for its manifest.
func TestLookupSharesRequests(t *testing.T) {
	reg := ilt.New(t)
	ref := reg.Push(t, "app", "v1", ilt.Image(t, "65532"))
	release := make(chan struct{})
	reg.Gate(func(req *http.Request) (int, bool) {
		if strings.Contains(req.URL.Path, "/manifests/") {
			<-release
		}
		return 0, false
	})
	r := newResolver(t, reg, func(c *imagelookup.Config) { c.Timeout = time.Minute })
	const n = 20
	images := make([]string, n)
	for i := range images {
		images[i] = ref
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := r.Lookup(context.Background(), ref, nil, "")
			errs <- err
		}()
	}
	// Let every goroutine join the flight before the registry answers.
	for reg.ManifestRequests.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := reg.ManifestRequests.Load(); got != 1 {
		t.Errorf("%d manifest requests for %d concurrent lookups, want 1", got, n)
	}
}

func TestLookupAll(t *testing.T) {
	reg := ilt.New(t)
	a := reg.Push(t, "a", "v1", ilt.Image(t, "65532"))
	b := reg.Push(t, "b", "v1", ilt.Image(t, ""))
	r := newResolver(t, reg, nil)
	out := r.LookupAll(context.Background(), []string{a, b, a, "not a reference!"}, nil, "")
	if len(out) != 3 {
		t.Fatalf("got %d outcomes, want 3 (one per distinct image)", len(out))
	}
	if out[a].Facts.Verdict != imagelookup.VerdictNonRoot || out[b].Facts.Verdict != imagelookup.VerdictRoot {
		t.Errorf("got %+v", out)
	}
	if out["not a reference!"].Err == nil {
		t.Error("a malformed reference gave no error")
	}
}

func TestConfigValidate(t *testing.T) {
	neg := int64(0)
	cases := []struct {
		name string
		cfg  imagelookup.Config
		err  string
	}{
		{name: "zero value", cfg: imagelookup.Config{}},
		{name: "timeout", cfg: imagelookup.Config{Timeout: -1}, err: "imageLookup.timeout"},
		{name: "platform", cfg: imagelookup.Config{Platforms: []string{"amd64"}}, err: "imageLookup.platforms"},
		{name: "root UID", cfg: imagelookup.Config{RootImageRunAsUser: &neg}, err: "imageLookup.rootImageRunAsUser"},
		{name: "byte limit", cfg: imagelookup.Config{MaxLayerBytes: -1}, err: "imageLookup.maxLayerBytes"},
		{name: "cache size", cfg: imagelookup.Config{CacheSize: -1}, err: "imageLookup.cacheSize"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("got %v, want %q", err, tc.err)
			}
		})
	}
}
