package config

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// DefaultPollInterval is how often a Watcher checks its file unless told
// otherwise. A ConfigMap change reaches a mounted file within about a minute;
// the poll adds at most this much.
const DefaultPollInterval = 5 * time.Second

// ReloadRecorder counts the outcome of each load of a changed file; the
// metrics package implements it.
type ReloadRecorder interface {
	ObserveConfigReload(ok bool)
}

// Watcher holds the configuration loaded from a file and reloads it when the
// file's content changes. A change that does not load (unreadable, invalid)
// keeps the last good configuration, is logged once per distinct problem and
// counted as a failure. It is safe for concurrent use.
type Watcher struct {
	path     string
	interval time.Duration
	log      *slog.Logger
	rec      ReloadRecorder

	current atomic.Pointer[loaded]

	mu      sync.Mutex // serialises reloads
	lastRaw []byte     // content of the last load attempt, good or bad
	lastErr string     // of that attempt; "" when it was good
}

// loaded is one good configuration with the options derived from it once.
type loaded struct {
	cfg  *Configuration
	opts defaults.Options
}

// NewWatcher loads path now and returns a Watcher that serves it; an error
// (the file is missing or invalid) means there is no configuration to start
// with. rec and log may be nil.
func NewWatcher(path string, interval time.Duration, rec ReloadRecorder, log *slog.Logger) (*Watcher, error) {
	if interval <= 0 {
		interval = DefaultPollInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{path: path, interval: interval, log: log, rec: rec}
	raw, err := w.read()
	if err != nil {
		return nil, err
	}
	c, err := Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("configuration file %s: %w", path, err)
	}
	w.store(c)
	w.lastRaw = raw
	if rec != nil {
		rec.ObserveConfigReload(true)
	}
	log.Info("loaded configuration", slog.String("file", path), slog.Any("rules", c.Options().Rules))
	return w, nil
}

func (w *Watcher) store(c *Configuration) {
	w.current.Store(&loaded{cfg: c, opts: c.Options()})
}

// Current returns the configuration in use. Callers must not change it.
func (w *Watcher) Current() *Configuration { return w.current.Load().cfg }

// Options returns the rules' options of the configuration in use, for
// admission.Handler.SetOptions. The value is shared: callers must not change
// its maps or slices.
func (w *Watcher) Options() defaults.Options { return w.current.Load().opts }

func (w *Watcher) read() ([]byte, error) { return readFile(w.path) }

// Reload reads the file now and, if its content changed since the last
// attempt and is a valid configuration, swaps it in. It reports whether the
// configuration in use changed. On error the configuration in use is kept;
// the same content is not retried, logged or counted again until it changes.
func (w *Watcher) Reload() (changed bool, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	raw, err := w.read()
	if err == nil && bytes.Equal(raw, w.lastRaw) {
		if w.lastErr != "" {
			return false, fmt.Errorf("configuration file %s: %s", w.path, w.lastErr)
		}
		return false, nil
	}
	var c *Configuration
	if err == nil {
		w.lastRaw = raw
		if c, err = Decode(raw); err != nil {
			err = fmt.Errorf("configuration file %s: %w", w.path, err)
		}
	}
	if err != nil {
		if msg := err.Error(); msg != w.lastErr {
			// A file that cannot be read is retried every poll (it may be
			// mid-update), but logged and counted once while the error lasts.
			w.lastErr = msg
			w.log.Error("configuration file changed but does not load; keeping the previous configuration", slog.String("error", msg))
			if w.rec != nil {
				w.rec.ObserveConfigReload(false)
			}
		}
		return false, err
	}
	w.lastErr = ""
	w.store(c)
	if w.rec != nil {
		w.rec.ObserveConfigReload(true)
	}
	w.log.Info("reloaded configuration", slog.String("file", w.path), slog.Any("rules", c.Options().Rules))
	return true, nil
}

// Run polls the file every interval until ctx is done (a first poll at once
// is a no-op unless the file changed since New read it). Errors are logged
// and counted by Reload; Run itself never fails.
func (w *Watcher) Run(ctx context.Context) {
	wait.UntilWithContext(ctx, func(context.Context) {
		_, _ = w.Reload() // logged and counted by Reload
	}, w.interval)
}
