package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/secure-defaults/secure-defaults/internal/testutil"
)

func TestServeOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		tweak   func(*serveOptions)
		wantErr []string // each must appear in the error; none: valid
	}{
		{name: "defaults need a certificate", tweak: func(*serveOptions) {}, wantErr: []string{"--tls-cert-file is required", "--tls-private-key-file is required"}},
		{name: "certificate files", tweak: func(o *serveOptions) { o.CertFile, o.KeyFile = "tls.crt", "tls.key" }},
		{name: "self-signed", tweak: func(o *serveOptions) { o.SelfSigned = true }},
		{name: "self-signed with files", tweak: func(o *serveOptions) { o.SelfSigned, o.CertFile = true, "tls.crt" }, wantErr: []string{"--self-signed makes its own certificate"}},
		{name: "TLS 1.1", tweak: func(o *serveOptions) { o.SelfSigned, o.TLSMinVersion = true, "1.1" }, wantErr: []string{`--tls-min-version "1.1"`}},
		{name: "no shutdown time", tweak: func(o *serveOptions) { o.SelfSigned, o.ShutdownTimeout = true, 0 }, wantErr: []string{"--shutdown-timeout"}},
		{name: "same port twice", tweak: func(o *serveOptions) { o.SelfSigned, o.MetricsListen = true, o.Listen }, wantErr: []string{"--listen and --metrics-listen are both"}},
		{name: "listen without port", tweak: func(o *serveOptions) { o.SelfSigned, o.Listen = true, "localhost" }, wantErr: []string{`--listen "localhost"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := newServeOptions()
			tt.tweak(o)
			err := o.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %v, want it to mention %q", err, w)
				}
			}
		})
	}
}

func TestServeFlagErrors(t *testing.T) {
	tests := []struct {
		args     []string
		wantCode int
		wantErr  string
	}{
		{[]string{"-h"}, 0, "-tls-reload-interval"},
		{[]string{"--no-such-flag"}, 2, "no-such-flag"},
		{[]string{"--self-signed", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{}, 2, "--tls-cert-file is required"},
		{[]string{"--self-signed", "--tls-min-version", "1.0"}, 2, "want 1.2 or 1.3"},
		{[]string{"--self-signed", "--config-reload-interval", "0s"}, 2, "--config-reload-interval 0s: must be positive"},
		{[]string{"--self-signed", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--config", "testdata/no-such-config.yaml"}, 1, "reading configuration file: open testdata/no-such-config.yaml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := runServe(context.Background(), tt.args, IO{Out: io.Discard, Err: &stderr, Log: slog.New(slog.DiscardHandler)})
			if code != tt.wantCode || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("exit %d, stderr %q; want %d mentioning %q", code, stderr.String(), tt.wantCode, tt.wantErr)
			}
		})
	}
}

// TestServeSelfSigned follows the newcomer's path: serve --self-signed, then
// run the printed curl command's request with the printed CA against the
// sample review, and stop with the signal's context.
func TestServeSelfSigned(t *testing.T) {
	sample, err := os.ReadFile("../../" + sampleReview)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr testutil.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runServe(ctx, []string{"--self-signed", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"},
			IO{Out: &stdout, Err: &stderr, Log: slog.New(slog.NewJSONHandler(&stderr, nil))})
	}()

	curl := regexp.MustCompile(`curl --cacert (\S+) -H 'Content-Type: application/json' --data-binary @(\S+) (https://\S+)`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; {
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no curl command printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		m = curl.FindStringSubmatch(stdout.String())
		time.Sleep(5 * time.Millisecond)
	}
	caFile, body, url := m[1], m[2], m[3]
	if body != sampleReview {
		t.Errorf("curl sends %s, want %s", body, sampleReview)
	}
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("printed CA file holds no certificate")
	}
	// curl resolves localhost itself; the Go client does the same.
	c := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := c.Post(url, "application/json", bytes.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var review admissionv1.AdmissionReview
	if err := utiljson.Unmarshal(out, &review); err != nil || resp.StatusCode != http.StatusOK || review.Response == nil {
		t.Fatalf("status %d, %v: %s", resp.StatusCode, err, out)
	}
	if !review.Response.Allowed || len(review.Response.Patch) == 0 || review.Response.UID != "3f0b1d36-5f7a-4a4e-9a57-8c1c2e0d5b71" {
		t.Errorf("the sample review was not mutated: %s", out)
	}

	readyz := regexp.MustCompile(`curl (http://\S+/readyz)`).FindStringSubmatch(stdout.String())
	if readyz == nil {
		t.Fatalf("no /readyz command printed: %s", stdout.String())
	}
	if r, err := http.Get(readyz[1]); err != nil || r.StatusCode != http.StatusOK {
		t.Errorf("printed /readyz: %v %v", r, err)
	} else {
		r.Body.Close()
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit code %d after cancel, want 0; stderr %s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	if _, err := os.Stat(caFile); !os.IsNotExist(err) {
		t.Errorf("throwaway CA left behind at %s (%v)", caFile, err)
	}
}

func TestServeCertModeFlags(t *testing.T) {
	cases := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown mode", []string{"--cert-mode=vault"}, `--cert-mode must be "files" or "builtin"`},
		{"builtin needs a namespace", []string{"--cert-mode=builtin"}, "--cert-namespace is required"},
		{"builtin and self-signed", []string{"--cert-mode=builtin", "--self-signed"}, "choose one"},
		{"builtin with files", []string{"--cert-mode=builtin", "--cert-namespace=secure-defaults",
			"--tls-cert-file=/certs/tls.crt", "--tls-private-key-file=/certs/tls.key"}, "drop --tls-cert-file and --tls-private-key-file"},
		{"builtin complete", []string{"--cert-mode=builtin", "--cert-namespace=secure-defaults"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := newServeOptions()
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			o.AddFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
