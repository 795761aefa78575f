package server_test

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/internal/testutil"
	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/server"
)

func goodReview() []byte {
	return at.Review(at.Request{Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})
}

// slowBody opens a connection that declares declared bytes of body and sends
// only sent of them; the connection stays open until the test ends.
func slowBody(t *testing.T, ts *testServer, declared, sent int) *tls.Conn {
	t.Helper()
	conn, err := tls.Dial("tcp", ts.Addr().String(), &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", declared)
	if _, err := conn.Write(bytes.Repeat([]byte(" "), sent)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestSlowBodiesHoldOnlyWhatTheySent: 32 connections that declare the
// largest body and send 1 KiB of it are charged for what they sent, not for
// what they declared, and a normal review is answered meanwhile.
func TestSlowBodiesHoldOnlyWhatTheySent(t *testing.T) {
	ts := start(t, setup{})
	const conns = 32
	for range conns {
		slowBody(t, ts, server.DefaultMaxRequestBytes, 1024)
	}
	// Every connection has been read into its first buffer.
	testutil.WaitFor(t, "the slow bodies to be read", func() bool { return ts.BytesInFlight() >= conns*1024 })
	if got, most := ts.BytesInFlight(), int64(conns*64<<10); got > most {
		t.Errorf("bytes in flight %d with %d slow bodies of 1 KiB, want at most %d: buffers sized from Content-Length", got, conns, most)
	}
	r, err := post(ts.client(false), ts.url(), "application/json", goodReview())
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("normal review during slow bodies: %v, status %d %s", err, r.status, r.body)
	}
}

// TestParallelLargeBodies: while two large reviews are held in flight, more
// large ones are answered 429 (by the large-review slots or the bytes in
// flight, whichever they reach first); reviews of normal size still get 200;
// once the held ones finish, large ones are taken again.
func TestParallelLargeBodies(t *testing.T) {
	// Every review of a body larger than 1 MiB is held, so the bodies stay in flight.
	g := &gated{inner: admission.NewHandler(nil, nil), hold: func(body []byte) bool { return len(body) > 1<<20 },
		entered: make(chan struct{}, 64), release: make(chan struct{})}
	ts := start(t, setup{reviewer: g})
	large := append(goodReview(), bytes.Repeat([]byte(" "), 4<<20-64<<10)...) // valid JSON: trailing space

	// Two large reviews are processed at once...
	const taken, n = 2, 12
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	send := func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := post(ts.client(false), ts.url(), "application/json", large)
			if err != nil {
				statuses <- 0
				return
			}
			statuses <- r.status
		}()
	}
	for range taken {
		send()
		<-g.entered
	}
	// ... and the rest refused while those are held.
	for range n - taken {
		send()
	}
	for range n - taken {
		if s := <-statuses; s != http.StatusTooManyRequests {
			t.Fatalf("a large review beyond the bounds got %d, want 429", s)
		}
	}
	if got := ts.BytesInFlight(); got > server.DefaultMaxBytesInFlight {
		t.Errorf("bytes in flight %d, over the limit %d", got, server.DefaultMaxBytesInFlight)
	}
	for range 3 {
		r, err := post(ts.client(false), ts.url(), "application/json", goodReview())
		if err != nil || r.status != http.StatusOK {
			t.Fatalf("normal review while large ones are held: %v, status %d %s", err, r.status, r.body)
		}
	}
	close(g.release)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("a held large review got %d, want 200", s)
		}
	}
	if got := ts.BytesInFlight(); got != 0 {
		t.Errorf("bytes in flight %d after every review finished, want 0", got)
	}
	if r, err := post(ts.client(false), ts.url(), "application/json", large); err != nil || r.status != http.StatusOK {
		t.Errorf("large review after the others finished: %v %d", err, r.status)
	}
}

// TestReviewsInFlight: with every slot taken, a review waits briefly and is
// answered 429 with Retry-After; it is taken again once a slot frees.
func TestReviewsInFlight(t *testing.T) {
	g := &gated{inner: admission.NewHandler(nil, nil), entered: make(chan struct{}, 2), release: make(chan struct{})}
	ts := start(t, setup{reviewer: g, tweak: func(o *server.Options) { o.MaxReviewsInFlight = 2 }})
	held := at.Review(at.Request{UID: heldMarker, Operation: admissionv1.Create, Resource: at.PodsResource, Object: at.RawPod(at.Pod())})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); post(ts.client(false), ts.url(), "application/json", held) }() //nolint:errcheck // checked below
		<-g.entered
	}
	r, err := post(ts.client(false), ts.url(), "application/json", goodReview())
	if err != nil || r.status != http.StatusTooManyRequests || r.resp.Header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "reviews in flight") {
		t.Fatalf("review with every slot taken: %v, %d %q; want 429 with Retry-After", err, r.status, r.body)
	}
	close(g.release)
	wg.Wait()
	if r, err := post(ts.client(false), ts.url(), "application/json", goodReview()); err != nil || r.status != http.StatusOK {
		t.Errorf("review after the slots freed: %v %d", err, r.status)
	}
}

// TestConnectionLimit: with MaxConnections open, a new connection is not
// served until one closes.
func TestConnectionLimit(t *testing.T) {
	ts := start(t, setup{tweak: func(o *server.Options) { o.MaxConnections = 2 }})
	dial := func() (*tls.Conn, error) {
		d := &net.Dialer{Timeout: 5 * time.Second}
		c, err := tls.DialWithDialer(d, "tcp", ts.Addr().String(), &tls.Config{RootCAs: ts.roots, ServerName: "localhost"})
		return c, err
	}
	var open []*tls.Conn
	for range 2 {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	third := make(chan error, 1)
	go func() {
		c, err := dial()
		if err == nil {
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
			_, err = http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
		}
		third <- err
	}()
	select {
	case err := <-third:
		t.Fatalf("a third connection was served (%v) while two were open", err)
	case <-time.After(300 * time.Millisecond):
	}
	open[0].Close()
	if err := <-third; err != nil {
		t.Fatalf("the third connection after one closed: %v", err)
	}
	open[1].Close()
}

// TestLogAndMessageTruncated: a 100 KiB apiVersion is not echoed whole, in
// the answer or the log.
func TestLogAndMessageTruncated(t *testing.T) {
	var logBuf testutil.SyncBuffer
	ts := start(t, setup{logTo: &logBuf})
	body := []byte(`{"apiVersion":"` + strings.Repeat("v", 100<<10) + `","kind":"AdmissionReview","request":{"uid":"u"}}`)
	r, err := post(ts.client(false), ts.url(), "application/json", body)
	if err != nil || r.status != http.StatusBadRequest {
		t.Fatalf("got %v %d, want 400", err, r.status)
	}
	if len(r.body) > 1024 || !strings.Contains(string(r.body), "more bytes]") {
		t.Errorf("400 body of %d bytes, want it cut to under 1 KiB with a note: %.200q", len(r.body), r.body)
	}
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if len(line) > 4<<10 {
			t.Errorf("log line of %d bytes: %.200q", len(line), line)
		}
	}
	if !strings.Contains(logBuf.String(), "refused a request") {
		t.Errorf("no log line for the refused request: %q", logBuf.String())
	}
}

// TestLargeDeclaredBodiesLeaveTheReserve: bodies declared large may not use
// the bytes kept for reviews of normal size, even while what they have sent
// so far is small, so 26 such bodies of 900 KiB each (more than the whole
// budget) still leave room for a normal review.
func TestLargeDeclaredBodiesLeaveTheReserve(t *testing.T) {
	ts := start(t, setup{})
	for range 26 {
		slowBody(t, ts, server.DefaultMaxRequestBytes, 900<<10)
	}
	testutil.WaitFor(t, "the large bodies to fill the bytes in flight", func() bool {
		return ts.BytesInFlight() >= server.DefaultMaxBytesInFlight-8<<20-1<<20
	})
	r, err := post(ts.client(false), ts.url(), "application/json", goodReview())
	if err != nil || r.status != http.StatusOK {
		t.Fatalf("normal review while large bodies hold the bytes in flight: %v, status %d %s", err, r.status, r.body)
	}
}

// TestRefusalLogNamesThePath: a request refused on /audit is logged as one
// to /audit, not /mutate.
func TestRefusalLogNamesThePath(t *testing.T) {
	var logBuf testutil.SyncBuffer
	ts := start(t, setup{logTo: &logBuf})
	for _, path := range []string{"/audit", "/mutate"} {
		url := strings.TrimSuffix(ts.url(), "/mutate") + path
		if r, err := post(ts.client(false), url, "text/plain", []byte("{}")); err != nil || r.status != http.StatusUnsupportedMediaType {
			t.Fatalf("%s: got %v, want 415", path, err)
		}
		if !strings.Contains(logBuf.String(), "refused a request to "+path) {
			t.Errorf("no log line naming %s: %q", path, logBuf.String())
		}
	}
}
