// Command stress measures how the real secure-defaults binary holds up under
// hostile load on loopback: the bounds of docs/hardening.md. Each scenario
// starts a fresh `serve` process, sends normal reviews at a steady rate
// throughout, runs its attack, and prints the process's peak RSS (sampled
// from /proc every 20 ms, and the kernel's high-water mark) and the latency
// of the normal reviews.
//
//	go run ./hack/stress -bin bin/secure-defaults [-scenario slow,parallel,dupnames,certs]
//
// Scenarios:
//   - slow: 32 connections each declare an 8 MiB body and send 1 byte a second;
//   - parallel: 50 valid reviews of just under 8 MiB sent at once, twice;
//   - dupnames: 12 reviews of 10,000 read-only containers that share one
//     name, with ?timeout=5s, against a server with GOMAXPROCS=1;
//   - certs: an expired, a not-yet-valid and a mismatched certificate written
//     over the serving files (then SIGHUP): which one is served, and /readyz.
//
// It only talks to 127.0.0.1, and every loop is bounded in count and time.
// The figures are a report for people, not a test: nothing here fails on them.
package main

import (
	"bufio"
	"bytes"

	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

func main() {
	bin := flag.String("bin", "bin/secure-defaults", "the secure-defaults binary to measure")
	scenarios := flag.String("scenario", "slow,parallel,dupnames,certs", "comma-separated scenarios to run")
	env := flag.String("env", "", "extra environment for the server, comma-separated KEY=VALUE (e.g. GOMEMLIMIT=100MiB)")
	flag.Parse()
	var extra []string
	if *env != "" {
		extra = strings.Split(*env, ",")
	}
	for _, name := range strings.Split(*scenarios, ",") {
		run, ok := map[string]func(*proc) string{
			"slow": slowBodies, "parallel": parallelLarge, "dupnames": dupNames, "certs": certs,
		}[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "stress: unknown scenario %q\n", name)
			os.Exit(2)
		}
		envs := extra
		if name == "dupnames" {
			envs = append(append([]string{}, extra...), "GOMAXPROCS=1")
		}
		p, err := startServer(*bin, envs)
		if err != nil {
			fmt.Fprintf(os.Stderr, "stress: %s: %v\n", name, err)
			os.Exit(1)
		}
		fmt.Printf("== %s (%s)\n", name, *bin)
		normal := p.normalReviews(50 * time.Millisecond)
		detail := run(p)
		lat := normal.stop()
		rss := p.stopSampling()
		fmt.Printf("  %s\n  RSS: idle %.1f MiB, peak %.1f MiB (VmHWM %.1f MiB)\n  normal reviews: %s\n",
			detail, mib(rss.idle), mib(rss.peak), mib(rss.hwm), lat)
		p.stop()
	}
}

func mib(kb int64) float64 { return float64(kb) / 1024 }

// proc is a running server.
type proc struct {
	cmd         *exec.Cmd
	dir         string
	addr, maddr string
	client      *http.Client
	roots       *x509.CertPool
	bundle      *pki.Bundle

	samplingDone chan struct{}
	rss          chan rssReport
}

type rssReport struct{ idle, peak, hwm int64 }

func freePort() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func startServer(bin string, env []string) (*proc, error) {
	dir, err := os.MkdirTemp("", "stress-")
	if err != nil {
		return nil, err
	}
	b, err := pki.Throwaway(pki.ThrowawayOptions{Hosts: []string{"localhost", "127.0.0.1"}})
	if err != nil {
		return nil, err
	}
	p := &proc{dir: dir, addr: freePort(), maddr: freePort(), roots: x509.NewCertPool(), bundle: b}
	p.roots.AppendCertsFromPEM(b.CA.CertPEM)
	if err := p.writePair(b.Serving.CertPEM, b.Serving.KeyPEM); err != nil {
		return nil, err
	}
	p.cmd = exec.Command(bin, "serve", "--listen", p.addr, "--metrics-listen", p.maddr,
		"--tls-cert-file", filepath.Join(dir, "tls.crt"), "--tls-private-key-file", filepath.Join(dir, "tls.key"))
	p.cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		return nil, err
	}
	p.cmd.Stdout, p.cmd.Stderr = logf, logf
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	p.client = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: p.roots, ServerName: "localhost"}, MaxIdleConnsPerHost: 100,
	}}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + p.maddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("server not ready in 20 s; log in %s", dir)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Warm up: a few normal reviews, then the idle RSS.
	for range 20 {
		p.review(sampleReview(), "")
	}
	time.Sleep(300 * time.Millisecond)
	p.samplingDone, p.rss = make(chan struct{}), make(chan rssReport, 1)
	go p.sample()
	return p, nil
}

func (p *proc) writePair(cert, key []byte) error {
	if err := os.WriteFile(filepath.Join(p.dir, "tls.key"), key, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(p.dir, "tls.crt"), cert, 0o600)
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
	os.RemoveAll(p.dir)
}

// status reads a field of /proc/PID/status in kB.
func (p *proc) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

func (p *proc) sample() {
	r := rssReport{idle: p.status("VmRSS")}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		if v := p.status("VmRSS"); v > r.peak {
			r.peak = v
		}
		select {
		case <-p.samplingDone:
			r.hwm = p.status("VmHWM")
			p.rss <- r
			return
		case <-t.C:
		}
	}
}

func (p *proc) stopSampling() rssReport {
	close(p.samplingDone)
	return <-p.rss
}

// review posts body to /mutate with query q and returns the status.
func (p *proc) review(body []byte, q string) (int, error) {
	req, err := http.NewRequest(http.MethodPost, "https://"+p.addr+"/mutate"+q, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// normal sends a normal review every interval until stopped.
type normal struct {
	stopc chan struct{}
	done  chan string
}

func (p *proc) normalReviews(every time.Duration) *normal {
	n := &normal{stopc: make(chan struct{}), done: make(chan string, 1)}
	go func() {
		body := sampleReview()
		var lat []time.Duration
		failed := map[string]int{}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-n.stopc:
				n.done <- summarize(lat, failed)
				return
			case <-t.C:
			}
			start := time.Now()
			code, err := p.review(body, "?timeout=10s")
			switch {
			case err != nil:
				failed["error"]++
			case code != 200:
				failed[strconv.Itoa(code)]++
			default:
				lat = append(lat, time.Since(start))
			}
		}
	}()
	return n
}

func (n *normal) stop() string { close(n.stopc); return <-n.done }

func summarize(lat []time.Duration, failed map[string]int) string {
	if len(lat) == 0 {
		return fmt.Sprintf("none answered 200; failures %v", failed)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	s := fmt.Sprintf("%d ok, p50 %s, p99 %s, max %s", len(lat), pct(0.5).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(10*time.Microsecond))
	if len(failed) > 0 {
		s += fmt.Sprintf("; failed %v", failed)
	}
	return s
}

// slowBodies: 32 connections declare 8 MiB and trickle one byte a second.
func slowBodies(p *proc) string {
	const conns, seconds = 32, 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := p.trickle(8<<20, seconds)
			mu.Lock()
			outcomes[res]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d slow 8 MiB-declared bodies for %d s: %v", conns, seconds, outcomes)
}

// trickle declares length bytes, sends one byte a second for at most
// seconds, then reports how the connection ended.
func (p *proc) trickle(length, seconds int) string {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", p.addr, &tls.Config{RootCAs: p.roots, ServerName: "localhost"})
	if err != nil {
		return "dial error"
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /mutate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", length)
	answered := make(chan string, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- "closed"
			return
		}
		resp.Body.Close()
		answered <- strconv.Itoa(resp.StatusCode)
	}()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for range seconds {
		select {
		case res := <-answered:
			return "answered " + res
		case <-t.C:
			if _, err := conn.Write([]byte("{")); err != nil {
				return "write refused"
			}
		}
	}
	return "still open"
}

// parallelLarge: 50 valid reviews of just under 8 MiB at once, twice.
func parallelLarge(p *proc) string {
	body := largeReview(8<<20 - 64<<10)
	codes := map[string]int{}
	var mu sync.Mutex
	start := time.Now()
	for range 2 {
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				code, err := p.review(body, "?timeout=10s")
				k := strconv.Itoa(code)
				if err != nil {
					k = "error"
				}
				mu.Lock()
				codes[k]++
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	return fmt.Sprintf("2×50 parallel %.1f MiB reviews in %s: status %v", float64(len(body))/(1<<20), time.Since(start).Round(time.Millisecond), codes)
}

// dupNames: 12 reviews of 10,000 read-only containers named alike, ?timeout=5s.
func dupNames(p *proc) string {
	body := dupReview(10000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var took []time.Duration
	codes := map[string]int{}
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			code, err := p.review(body, "?timeout=5s")
			k := strconv.Itoa(code)
			if err != nil {
				k = "error"
			}
			mu.Lock()
			took = append(took, time.Since(start))
			codes[k]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	return fmt.Sprintf("12 reviews of 10,000 same-named containers (%.0f KiB, GOMAXPROCS=1): status %v, fastest %s, slowest %s",
		float64(len(body))/1024, codes, took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// certs writes bad pairs over the serving files and reports what is served.
func certs(p *proc) string {
	var out []string
	now := time.Now()
	good := p.served()
	for _, c := range []struct {
		name string
		opts pki.ThrowawayOptions
		swap bool // the key of another pair
	}{
		{"expired", pki.ThrowawayOptions{NotBefore: now.Add(-48 * time.Hour), Lifetime: 24 * time.Hour}, false},
		{"not-yet-valid", pki.ThrowawayOptions{NotBefore: now.Add(time.Hour), Lifetime: 24 * time.Hour}, false},
		{"mismatched key", pki.ThrowawayOptions{}, true},
	} {
		c.opts.Hosts = []string{"localhost", "127.0.0.1"}
		b, err := pki.Throwaway(c.opts)
		if err != nil {
			return err.Error()
		}
		key := b.Serving.KeyPEM
		if c.swap {
			other, _ := pki.Throwaway(c.opts)
			key = other.Serving.KeyPEM
		}
		p.writePair(b.Serving.CertPEM, key)
		p.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(700 * time.Millisecond)
		servedNow := p.served()
		what := "the previous good one"
		if servedNow != good {
			what = "THE NEW ONE"
		}
		resp, err := http.Get("http://" + p.maddr + "/readyz")
		ready := "error"
		if err == nil {
			ready = strconv.Itoa(resp.StatusCode)
			resp.Body.Close()
		}
		out = append(out, fmt.Sprintf("%s → serves %s, /readyz %s", c.name, what, ready))
		p.writePair(p.bundle.Serving.CertPEM, p.bundle.Serving.KeyPEM)
		p.cmd.Process.Signal(syscall.SIGHUP)
		time.Sleep(300 * time.Millisecond)
	}
	resp, err := http.Get("http://" + p.maddr + "/metrics")
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		has := func(m string) string {
			if bytes.Contains(b, []byte(m)) {
				return "yes"
			}
			return "no"
		}
		out = append(out, fmt.Sprintf("metrics: expiry timestamp %s, reload failures %s",
			has("secure_defaults_tls_certificate_expiry_timestamp_seconds"), has("secure_defaults_tls_reload_failures_total")))
	}
	return strings.Join(out, "\n  ")
}

// served returns the serial number of the certificate the server presents.
func (p *proc) served() string {
	conn, err := tls.Dial("tcp", p.addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return "handshake failed"
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func review(pod map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "00000000-0000-0000-0000-000000000001", "operation": "CREATE", "namespace": "stress",
			"kind":     map[string]string{"group": "", "version": "v1", "kind": "Pod"},
			"resource": map[string]string{"group": "", "version": "v1", "resource": "pods"},
			"object":   pod,
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

func pod(containers []any) map[string]any {
	return map[string]any{"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p", "namespace": "stress"},
		"spec": map[string]any{"containers": containers}}
}

// sampleReview is a normal pod: two containers, nothing set.
func sampleReview() []byte {
	return review(pod([]any{
		map[string]any{"name": "app", "image": "nginx:1.27"},
		map[string]any{"name": "sidecar", "image": "busybox:1.36", "securityContext": map[string]any{"readOnlyRootFilesystem": true}},
	}))
}

// largeReview is a valid review of about size bytes: containers with large
// environment values, all defaulted by every rule.
func largeReview(size int) []byte {
	const perContainer = 4096
	value := strings.Repeat("x", perContainer)
	var cs []any
	for i := 0; i < size/(perContainer+200); i++ {
		cs = append(cs, map[string]any{"name": fmt.Sprintf("c%d", i), "image": "busybox:1.36",
			"env":             []any{map[string]any{"name": "V", "value": value}},
			"securityContext": map[string]any{"readOnlyRootFilesystem": true}})
	}
	return review(pod(cs))
}

// dupReview is a review of n read-only containers that all share one name.
func dupReview(n int) []byte {
	cs := make([]any, n)
	for i := range cs {
		cs[i] = map[string]any{"name": "c", "image": "busybox:1.36", "securityContext": map[string]any{"readOnlyRootFilesystem": true}}
	}
	return review(pod(cs))
}
