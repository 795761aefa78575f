package framework

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStartProcessFailsLoudly(t *testing.T) {
	never := func(context.Context) error { return errors.New("not yet") }
	tests := []struct {
		name    string
		script  string
		timeout time.Duration
		want    []string // substrings of the error
	}{
		{
			name:   "exits during start-up",
			script: "echo starting; echo 'bind: address already in use' >&2; exit 3",
			want:   []string{"broken exited during start-up", "exit status 3", "bind: address already in use", "starting"},
		},
		{
			name:    "never ready",
			script:  "echo waiting forever; exec sleep 60",
			timeout: 300 * time.Millisecond,
			want:    []string{"broken not ready after 300ms", "not yet", "waiting forever"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := StartProcess(context.Background(), ProcessOptions{
				Name:         "broken",
				Path:         "/bin/sh",
				Args:         []string{"-c", tc.script},
				LogDir:       t.TempDir(),
				Ready:        never,
				ReadyTimeout: tc.timeout,
			})
			if err == nil {
				p.Stop()
				t.Fatal("StartProcess succeeded for a process that never became ready")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestStartProcessRejectsIncompleteOptions(t *testing.T) {
	if _, err := StartProcess(context.Background(), ProcessOptions{Path: "/bin/true", LogDir: t.TempDir()}); err == nil {
		t.Fatal("StartProcess accepted options without a Name")
	}
}

// A stopped process takes the processes it started with it, and StopAll
// leaves nothing behind.
func TestStopKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	childPid := filepath.Join(dir, "child.pid")
	p, err := StartProcess(context.Background(), ProcessOptions{
		Name:   "parent",
		Path:   "/bin/sh",
		Args:   []string{"-c", "sleep 60 & echo $! > " + childPid + "; wait"},
		LogDir: dir,
		Ready: func(context.Context) error {
			_, err := os.Stat(childPid)
			return err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	pidText, err := os.ReadFile(childPid)
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(string(pidText)))
	if err != nil {
		t.Fatal(err)
	}

	StopAll()
	select {
	case <-p.Exited():
	default:
		t.Fatal("StopAll returned before the process exited")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("second Stop after a SIGTERM exit: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(child, 0) == nil {
		// The child may linger as a zombie of init for a moment.
		if st, err := os.ReadFile("/proc/" + strconv.Itoa(child) + "/stat"); err == nil && strings.Contains(string(st), ") Z ") {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(child, syscall.SIGKILL)
			t.Fatalf("child %d of the stopped process is still running", child)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStopReportsEarlierCrash(t *testing.T) {
	p, err := StartProcess(context.Background(), ProcessOptions{
		Name: "crasher", Path: "/bin/sh", Args: []string{"-c", "exit 7"}, LogDir: t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	<-p.Exited()
	if err := p.Stop(); err == nil || !strings.Contains(err.Error(), "exit status 7") {
		t.Errorf("Stop of a crashed process = %v, want the exit status", err)
	}
}

func TestFreePortsDistinctAndBindable(t *testing.T) {
	ports, err := FreePorts(5)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Errorf("port %d returned twice: %v", p, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		l.Close()
	}
}

// The generated certificate is accepted by a client that trusts only CAPEM,
// for every host it was made for.
func TestGenerateServingCert(t *testing.T) {
	sc, err := GenerateServingCert(t.TempDir(), "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(sc.CertFile, sc.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	defer srv.Close()

	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(sc.CAPEM) {
		t.Fatal("CAPEM holds no certificate")
	}
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := client.Get("https://" + net.JoinHostPort(host, port))
		if err != nil {
			t.Errorf("%s: %v", host, err)
			continue
		}
		resp.Body.Close()
	}

	if _, err := GenerateServingCert(t.TempDir()); err == nil {
		t.Error("GenerateServingCert accepted no hosts")
	}
}
