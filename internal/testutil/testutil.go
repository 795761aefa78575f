// Package testutil holds the small helpers that the tests of several
// packages share, so each exists once: a throwaway CA and serving
// certificate (the tests of pkg/certwatch, pkg/server and pkg/builtincert)
// and a bounded wait for a condition. It is imported by tests only.
package testutil

import (
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
