package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	at "github.com/secure-defaults/secure-defaults/internal/admissiontest"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
)

// The webhooks under test, by the names the report uses.
const (
	ours      = "secure-defaults"
	ideal     = "ideal"
	reference = "controller-runtime"
)

// webhook is one running webhook server.
type webhook struct {
	name string
	url  string // https://127.0.0.1:PORT/mutate
	proc *framework.Process
}

// startWebhook starts the named webhook from binDir with cert, logging into
// dir, and waits until it answers a review.
func startWebhook(ctx context.Context, name, binDir, dir string, cert *framework.ServingCert, caPool *x509.CertPool, review []byte) (*webhook, error) {
	ports, err := framework.FreePorts(2)
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", ports[0])
	var bin string
	var args []string
	switch name {
	case ours:
		bin = "secure-defaults"
		args = []string{"serve", "--listen=" + listen, fmt.Sprintf("--metrics-listen=127.0.0.1:%d", ports[1]),
			"--tls-cert-file=" + cert.CertFile, "--tls-private-key-file=" + cert.KeyFile}
	case ideal:
		bin = "ideal-webhook"
		args = []string{"--listen=" + listen, "--tls-cert-file=" + cert.CertFile, "--tls-private-key-file=" + cert.KeyFile}
	case reference:
		bin = "reference-webhook"
		args = []string{"--listen=" + listen, "--cert-dir=" + filepath.Dir(cert.CertFile)}
	default:
		return nil, fmt.Errorf("unknown webhook %q", name)
	}
	w := &webhook{name: name, url: "https://" + listen + "/mutate"}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	defer client.CloseIdleConnections()
	w.proc, err = framework.StartProcess(ctx, framework.ProcessOptions{
		Name: name, Path: filepath.Join(binDir, bin), Args: args, LogDir: dir,
		Ready: func(ctx context.Context) error {
			_, err := post(ctx, client, w.url, review)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	return w, nil
}

// post sends one review and returns the decoded response.
func post(ctx context.Context, client *http.Client, url string, review []byte) (*admissionv1.AdmissionResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"?timeout=10s", bytes.NewReader(review))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", res.StatusCode, strings.TrimSpace(string(body)))
	}
	return at.DecodeResponse(body)
}

// checkAnswer sends review to w and checks that the patch it answers with
// turns the review's pod into exactly what defaults.Apply makes of it, so
// every webhook measured does the same job.
func checkAnswer(ctx context.Context, w *webhook, caPool *x509.CertPool, review []byte) (ops int, err error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: caPool}}}
	defer client.CloseIdleConnections()
	resp, err := post(ctx, client, w.url, review)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", w.name, err)
	}
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(review, &rev); err != nil {
		return 0, err
	}
	got, _, err := at.ApplyResponse(rev.Request.Object.Raw, resp)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", w.name, err)
	}
	want := &corev1.Pod{}
	if err := json.Unmarshal(rev.Request.Object.Raw, want); err != nil {
		return 0, err
	}
	defaults.Apply(want, defaults.Options{})
	if !apiequality.Semantic.DeepEqual(got, want) {
		return 0, fmt.Errorf("%s: the patched pod is not what defaults.Apply makes of the review's pod", w.name)
	}
	var list []json.RawMessage
	if err := json.Unmarshal(resp.Patch, &list); err != nil {
		return 0, fmt.Errorf("%s: patch: %w", w.name, err)
	}
	return len(list), nil
}

// caPool returns a pool holding the CA of cert.
func caPool(cert *framework.ServingCert) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(cert.CAPEM) {
		return nil, fmt.Errorf("no CA certificate in the serving certificate")
	}
	return pool, nil
}

// readReview reads the review fixture and compacts it, as the API server
// sends it.
func readReview(path string) ([]byte, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return buf.Bytes(), nil
}

// procStatus returns a field of /proc/PID/status in KiB (e.g. VmHWM).
func procStatus(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// cpuTime returns the user+system CPU time the process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / hz, nil
}
