package config_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
)

const (
	header  = "apiVersion: config.secure-defaults.dev/v1alpha1\nkind: Configuration\n"
	goodA   = header + "rules: {seccomp-runtime-default: {enabled: false}}\n"
	goodB   = header + "rules: {drop-all-capabilities: {enabled: false}}\n"
	badFile = header + "rules: {seccomp-runtime-default: {enabled: nope}}\n"
)

func write(t *testing.T, path, content string) {
	t.Helper()
	// As a ConfigMap volume does: write aside, then rename over.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadUnderLoad serves reviews without pause while the file goes
// good → bad → good: no review fails, the bad file never takes effect, it
// is logged and counted once however often it is polled, and the second good
// file takes effect.
func TestReloadUnderLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config.yaml")
	write(t, path, goodA)
	m := metrics.New("test", "test")
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	w, err := config.NewWatcher(path, 0, m, log)
	if err != nil {
		t.Fatal(err)
	}
	h := admission.NewHandler(m, log)
	h.SetOptions(w.Options)

	review := at.Review(at.Request{UID: "u", Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})
	var failed, served atomic.Int64
	var seen sync.Map // audit annotation values seen
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				out, err := h.Review(context.Background(), review)
				if err != nil {
					failed.Add(1)
					continue
				}
				resp, err := at.DecodeResponse(out)
				if err != nil || !resp.Allowed || resp.Result != nil {
					failed.Add(1)
					continue
				}
				served.Add(1)
				seen.Store(resp.AuditAnnotations[admission.AuditAnnotationDefaulted], true)
			}
		}()
	}
	waitServed := func(n int64) {
		for start := served.Load(); served.Load() < start+n; {
			time.Sleep(time.Millisecond)
		}
	}

	waitServed(200)
	write(t, path, badFile)
	for range 3 { // polled again and again: logged and counted once
		if changed, err := w.Reload(); changed || err == nil {
			t.Fatalf("bad file: changed %v, error %v", changed, err)
		}
		waitServed(100)
	}
	if w.Options().Enabled("seccomp-runtime-default") {
		t.Error("the bad file took effect")
	}
	wantMetrics(t, m, "secure_defaults_config_last_reload_successful 0")
	write(t, path, goodB)
	if changed, err := w.Reload(); !changed || err != nil {
		t.Fatalf("good file after a bad one: changed %v, error %v", changed, err)
	}
	waitServed(200)
	stop()
	wg.Wait()

	if failed.Load() != 0 {
		t.Errorf("%d of %d reviews failed during reloads", failed.Load(), served.Load()+failed.Load())
	}
	// Under A seccomp is off, under B drop-all is off; nothing else was served.
	want := map[string]bool{
		"drop-all-capabilities,no-privilege-escalation,run-as-non-root":   true,
		"no-privilege-escalation,run-as-non-root,seccomp-runtime-default": true,
	}
	seen.Range(func(k, _ any) bool {
		if !want[k.(string)] {
			t.Errorf("a review applied %q, which neither good file gives", k)
		}
		delete(want, k.(string))
		return true
	})
	if len(want) != 0 {
		t.Errorf("never served under %v", want)
	}
	if !w.Options().Enabled("seccomp-runtime-default") || w.Options().Enabled("drop-all-capabilities") {
		t.Errorf("after good B: options %v", w.Options().Rules)
	}
	wantMetrics(t, m,
		"secure_defaults_config_last_reload_successful 1",
		`secure_defaults_config_reloads_total{result="failure"} 1`,
		`secure_defaults_config_reloads_total{result="success"} 2`)
	logMu.Lock()
	n := strings.Count(logs.String(), "configuration file changed but does not load")
	logMu.Unlock()
	if n != 1 {
		t.Errorf("bad file logged %d times, want once:\n%s", n, logs.String())
	}
}

// wantMetrics scrapes m and checks that each line is in the page.
func wantMetrics(t *testing.T, m *metrics.Prometheus, lines ...string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	page := rec.Body.String()
	for _, l := range lines {
		if !strings.Contains(page, "\n"+l+"\n") {
			t.Errorf("metrics lack %q", l)
		}
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
