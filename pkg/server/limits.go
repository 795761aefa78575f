package server

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errBusy is returned when a bound on work in flight is reached; the request
// is answered with 429.
var errBusy = errors.New("busy")

// byteBudget bounds the request-body bytes held by the server at once. Bytes
// are charged as they arrive, never from a declared Content-Length, so a
// client that announces a large body and sends it slowly holds only what it
// has sent.
//
// Bodies larger than smallBody, or declared so, may only use the budget up
// to limit-reserve: the reserve is kept for reviews of normal size, so a
// burst of large reviews cannot starve them. (A declared length only ever
// restricts a body, never sizes a buffer.)
type byteBudget struct {
	used                      atomic.Int64
	limit, reserve, smallBody int64
}

// take charges n more bytes to a body that already holds held. It reports
// false, charging nothing, if that would exceed the budget.
func (b *byteBudget) take(n, held int64) bool {
	ceiling := b.limit
	if held+n > b.smallBody {
		ceiling -= b.reserve
	}
	for {
		used := b.used.Load()
		if used+n > ceiling {
			return false
		}
		if b.used.CompareAndSwap(used, used+n) {
			return true
		}
	}
}

func (b *byteBudget) give(n int64) { b.used.Add(-n) }

// readBody reads r (at most limit bytes, else *tooLargeError) into a buffer
// that grows with the bytes actually received, charging each chunk to
// budget. declared is the Content-Length (-1 if unknown): it only decides
// whether the body may use the reserve. The caller gives back the returned
// charge once done with the body, also on error.
func readBody(r io.Reader, declared, limit int64, budget *byteBudget) (body []byte, charged int64, err error) {
	const chunk = 32 << 10
	var buf []byte
	for {
		if int64(len(buf)) == int64(cap(buf)) {
			// Grow by doubling, capped at the limit (+1 to see an excess).
			want := min(max(int64(cap(buf))*2, chunk), limit+1)
			if want <= int64(cap(buf)) {
				return buf, charged, &tooLargeError{limit}
			}
			size := charged
			if declared > budget.smallBody {
				size = declared
			}
			if !budget.take(want-int64(cap(buf)), size) {
				return buf, charged, errBusy
			}
			charged += want - int64(cap(buf))
			grown := make([]byte, len(buf), want)
			copy(grown, buf)
			buf = grown
		}
		n, rerr := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, charged, &tooLargeError{limit}
		}
		if rerr == io.EOF {
			return buf, charged, nil
		}
		if rerr != nil {
			return buf, charged, rerr
		}
	}
}

type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string { return "request body too large" }

// reviewSlots bounds the reviews being processed at once. A review waits for
// a slot at most queueWait (and never past its deadline), then is refused.
type reviewSlots chan struct{}

// queueWait is how long a review may wait for a slot: long enough to absorb
// a burst of pod creations (a review of a normal pod takes about a
// millisecond), short enough that an overloaded server answers 429 at once
// rather than let the API server's timeout expire.
const queueWait = 500 * time.Millisecond

func (s reviewSlots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(queueWait)
	defer t.Stop()
	select {
	case s <- struct{}{}:
		return nil
	case <-t.C:
		return errBusy
	case <-ctx.Done():
		return errBusy
	}
}

func (s reviewSlots) release() { <-s }

// limitListener accepts at most n connections at once: Accept waits until
// one closes, and the excess waits in the kernel's backlog.
type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newLimitListener(l net.Listener, n int) *limitListener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and wakes an Accept waiting for a free slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
