// Package testutil holds the small helpers that the tests of several
// packages share, so each exists once: a throwaway CA and serving
// certificate (the tests of pkg/certwatch, pkg/server and pkg/builtincert),
// a bounded wait for a condition, and a buffer that a server goroutine and
// the test may share. It is imported by tests only.
package testutil

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

// Throwaway returns a new CA and a serving certificate of key type kt for
// localhost, 127.0.0.1 and ::1, valid for a day, failing the test on error.
func Throwaway(t testing.TB, kt pki.KeyType) *pki.Bundle {
	t.Helper()
	b, err := pki.Throwaway(pki.ThrowawayOptions{KeyType: kt})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WaitTimeout bounds WaitFor. It only catches a hang: it is no timing
// assertion, so it is generous for a busy machine.
const WaitTimeout = 20 * time.Second

// WaitFor polls cond every few milliseconds until it holds, and fails the
// test, naming what it waited for, after WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", WaitTimeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent use: a log or an output
// stream written by a server goroutine and read by the test.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
