package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/secure-defaults/secure-defaults/pkg/certwatch"
	"github.com/secure-defaults/secure-defaults/pkg/metrics"
)

// Reviewer answers one review. body is the request body; the returned bytes
// are written back with 200. An error means the body was not a review at all,
// and is answered with 400 and the error's message.
type Reviewer interface {
	Review(ctx context.Context, body []byte) ([]byte, error)
}

// Auditor is a Reviewer that also answers reviews for namespaces in audit
// mode. When the server's Reviewer is one, the server takes POST /audit too,
// with the same request checks as POST /mutate.
type Auditor interface {
	Reviewer
	Audit(ctx context.Context, body []byte) ([]byte, error)
}

// Metrics records what the server refuses and serves the /metrics page.
type Metrics interface {
	metrics.Recorder
	certwatch.Observer
	Handler() http.Handler
}

const (
	// readHeaderTimeout bounds slow-header (slowloris) clients.
	readHeaderTimeout = 10 * time.Second
	// readTimeout and writeTimeout exceed the API server's longest webhook
	// timeout (30 s), so they only ever cut off a broken peer.
	readTimeout  = 35 * time.Second
	writeTimeout = 40 * time.Second
	// idleTimeout exceeds the API server's 90 s keep-alive, so the API server
	// closes idle connections first and never reuses one the server closed.
	idleTimeout = 120 * time.Second
	// maxReviewTimeout caps ?timeout=: the API server allows at most 30 s.
	maxReviewTimeout = 30 * time.Second
	// maxLoggedValue bounds each value the server logs or echoes back from
	// a request, so a hostile body cannot turn into a megabyte log line.
	maxLoggedValue = 512
)

// Server serves the webhook. Create it with New and start it with Run.
type Server struct {
	opts     Options
	minTLS   uint16
	reviewer Reviewer
	metrics  Metrics
	log      *slog.Logger
	certs    *certwatch.Watcher
	tlsConf  *tls.Config
	bytes    *byteBudget
	slots    reviewSlots
	large    reviewSlots // held as well by reviews of bodies over largeBodyBytes

	serving      atomic.Bool
	started      chan struct{}
	addr         net.Addr
	metricsAddr  net.Addr
	shuttingDown atomic.Bool
}

// New returns a Server for validated options. log may be nil.
func New(o Options, r Reviewer, m Metrics, log *slog.Logger) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if r == nil || m == nil {
		return nil, errors.New("server: a Reviewer and Metrics are required")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	minTLS, _ := o.tlsMinVersion()
	s := &Server{
		opts:     o,
		minTLS:   minTLS,
		reviewer: r,
		metrics:  m,
		log:      log,
		certs:    certwatch.New(o.CertFile, o.KeyFile, o.CertPollInterval, log),
		bytes:    &byteBudget{limit: o.MaxBytesInFlight, reserve: reservedBytes, smallBody: smallBodyBytes},
		slots:    make(reviewSlots, o.MaxReviewsInFlight),
		large:    make(reviewSlots, maxLargeInFlight),
		started:  make(chan struct{}),
	}
	s.certs.SetObserver(m)
	s.tlsConf = &tls.Config{
		MinVersion:     minTLS,
		CipherSuites:   tls12Suites,
		GetCertificate: s.certs.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
	if o.ClientCAFile != "" {
		pool, err := loadClientCAs(o.ClientCAFile)
		if err != nil {
			return nil, err
		}
		s.tlsConf.ClientCAs, s.tlsConf.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return s, nil
}

// Started is closed once both listeners are bound; Addr and MetricsAddr are
// valid from then on.
func (s *Server) Started() <-chan struct{} { return s.started }

// Addr is the bound address of the HTTPS listener, once Started is closed.
func (s *Server) Addr() net.Addr { return s.addr }

// MetricsAddr is the bound address of the metrics listener, once Started is closed.
func (s *Server) MetricsAddr() net.Addr { return s.metricsAddr }

// ReloadCertificate reads the certificate files now, for a SIGHUP.
func (s *Server) ReloadCertificate() error {
	_, err := s.certs.Reload()
	return err
}

// SetCertificate serves certPEM and keyPEM from the next handshake on, for a
// server made without certificate files: the hand-over from the built-in
// certificate mode and --self-signed. A pair that does not load is refused
// and the previous one kept.
func (s *Server) SetCertificate(certPEM, keyPEM []byte) error {
	_, err := s.certs.Set(certPEM, keyPEM)
	return err
}

// Ready returns nil when the webhook can take reviews: a certificate is
// loaded and has not expired, the HTTPS listener is serving, and shutdown
// has not begun.
func (s *Server) Ready() error {
	if s.shuttingDown.Load() {
		return errors.New("shutting down")
	}
	if !s.serving.Load() {
		return errors.New("HTTPS listener not serving yet")
	}
	return s.certs.Healthy()
}

// Run binds both listeners and serves until ctx is cancelled, then stops
// accepting connections, lets in-flight reviews finish and returns nil, or an
// error if they did not finish within the shutdown timeout. It also returns
// an error if a listener cannot be bound or fails.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listening on --listen %s: %w", s.opts.Listen, err)
	}
	mln, err := net.Listen("tcp", s.opts.MetricsListen)
	if err != nil {
		ln.Close()
		return fmt.Errorf("listening on --metrics-listen %s: %w", s.opts.MetricsListen, err)
	}
	s.addr, s.metricsAddr = ln.Addr(), mln.Addr()

	watchCtx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	if _, err := s.certs.Reload(); err != nil {
		s.log.Warn("serving without a certificate until the files load; not ready", slog.String("error", err.Error()))
	}
	go s.certs.Run(watchCtx)

	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	webhook := &http.Server{
		Handler:           s.webhookMux(),
		TLSConfig:         s.tlsConf,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){}, // no HTTP/2
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}
	metricsSrv := &http.Server{
		Handler:           s.metricsMux(),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          errLog,
	}

	serveErr := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := metricsSrv.Serve(mln); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("metrics listener: %w", err)
		}
	}()
	go func() {
		defer wg.Done()
		if err := webhook.ServeTLS(newLimitListener(ln, s.opts.MaxConnections), "", ""); !errors.Is(err, http.ErrServerClosed) {
			serveErr <- fmt.Errorf("webhook listener: %w", err)
		}
	}()
	s.serving.Store(true)
	close(s.started)
	s.log.Info("serving", slog.String("webhook", s.addr.String()), slog.String("metrics", s.metricsAddr.String()))

	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down: draining in-flight reviews", slog.String("timeout", s.opts.ShutdownTimeout.String()))
	case runErr = <-serveErr:
		s.log.Error("listener failed; shutting down", slog.String("error", runErr.Error()))
	}
	s.shuttingDown.Store(true)

	sctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := webhook.Shutdown(sctx); err != nil {
		webhook.Close()
		runErr = errors.Join(runErr, fmt.Errorf("reviews still in flight after --shutdown-timeout %s: %w", s.opts.ShutdownTimeout, err))
	}
	s.serving.Store(false)
	if err := metricsSrv.Shutdown(sctx); err != nil {
		metricsSrv.Close()
	}
	wg.Wait()
	if runErr == nil {
		s.log.Info("shut down cleanly")
	}
	return runErr
}

func (s *Server) webhookMux() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /mutate", s.handleReview(s.reviewer.Review))
	if a, ok := s.reviewer.(Auditor); ok {
		mux.HandleFunc("POST /audit", s.handleReview(a.Audit))
	}
	return mux
}

func (s *Server) metricsMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		if warning := s.certs.Warning(); warning != "" {
			// Still ready: see the certwatch package doc for why.
			io.WriteString(w, "ok; warning: "+warning+"\n")
			return
		}
		io.WriteString(w, "ok\n")
	})
	return mux
}

// handleReview returns the handler that checks a request, reads the body
// within the limit, and hands it to review: the Reviewer's Review for POST
// /mutate, its Audit for POST /audit.
func (s *Server) handleReview(review func(ctx context.Context, body []byte) ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { s.serveReview(w, r, review) }
}

func (s *Server) serveReview(w http.ResponseWriter, r *http.Request, review func(ctx context.Context, body []byte) ([]byte, error)) {
	wrote := false
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("panic serving a review", slog.String("path", r.URL.Path), slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
			s.metrics.ObserveRejected()
			if !wrote {
				http.Error(w, "internal error while reviewing the request", http.StatusInternalServerError)
			}
		}
	}()

	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.refuse(w, r, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type must be application/json, got %q", r.Header.Get("Content-Type")))
		return
	}
	limit := s.opts.MaxRequestBytes
	if r.ContentLength > limit {
		s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, limit))
		return
	}
	// The buffer grows with the bytes that arrive, never with the declared
	// length, and every byte is charged to the bytes in flight.
	body, charged, err := readBody(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit, s.bytes)
	defer s.bytes.give(charged)
	if err != nil {
		_, maxBytes := errors.AsType[*http.MaxBytesError](err)
		_, tooLarge := errors.AsType[*tooLargeError](err)
		switch {
		case maxBytes || tooLarge:
			s.refuse(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", limit))
		case errors.Is(err, errBusy):
			// Read the rest into nothing (bounded by the limit and the read
			// timeout, holding no memory), so the client is not cut off
			// mid-upload and sees the 429 rather than a reset connection.
			io.Copy(io.Discard, io.LimitReader(r.Body, limit))
			w.Header().Set("Connection", "close")
			s.busy(w, r, "too many request bytes in flight")
		default:
			s.refuse(w, r, http.StatusBadRequest, "reading the request body: "+err.Error())
		}
		return
	}

	ctx := r.Context()
	if t := r.URL.Query().Get("timeout"); t != "" {
		if d, err := time.ParseDuration(t); err == nil && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, min(d, maxReviewTimeout))
			defer cancel()
		}
	}

	if int64(len(body)) > largeBodyBytes {
		// Decoding a large pod costs many times its size in memory.
		if err := s.large.acquire(ctx); err != nil {
			s.busy(w, r, "too many large reviews in flight")
			return
		}
		defer s.large.release()
	}
	if err := s.slots.acquire(ctx); err != nil {
		s.busy(w, r, "too many reviews in flight")
		return
	}
	out, err := s.reviewInSlot(ctx, body, review)
	if err != nil {
		s.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	wrote = true
	if _, err := w.Write(out); err != nil {
		s.log.Warn("writing the response", slog.String("remote", r.RemoteAddr), slog.String("error", err.Error()))
	}
}

// reviewInSlot runs review in the slot the caller acquired and gives the
// slot back however review ends: a panic recovered by serveReview must not
// keep it, or a few panics would leave every later review answered 429. The
// slot is given back before the response is written, so a client slow to
// read its answer does not hold one.
func (s *Server) reviewInSlot(ctx context.Context, body []byte, review func(ctx context.Context, body []byte) ([]byte, error)) ([]byte, error) {
	defer s.slots.release()
	return review(ctx, body)
}

// refuse answers a request that could not be reviewed, logs one line and
// counts it. msg may quote the request: it is cut to maxLoggedValue.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, code int, msg string) {
	msg = Truncate(msg, maxLoggedValue)
	s.metrics.ObserveRejected()
	s.log.Warn("refused a request to "+r.URL.Path, slog.Int("status", code), slog.String("remote", r.RemoteAddr), slog.String("reason", msg))
	http.Error(w, msg, code)
}

// busy answers 429 to a request refused by a bound on work in flight. The
// API server treats it as a failed call (failurePolicy applies) and its
// client retries the create.
func (s *Server) busy(w http.ResponseWriter, r *http.Request, why string) {
	w.Header().Set("Retry-After", "1")
	s.refuse(w, r, http.StatusTooManyRequests, "the webhook is busy: "+why+"; retry")
}
