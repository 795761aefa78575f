package certwatch

import "time"

// SetClock replaces the Watcher's clock, so tests can move past an expiry.
func (w *Watcher) SetClock(now func() time.Time) { w.now = now }
