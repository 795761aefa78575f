package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// ProcessOptions describes a subprocess for StartProcess.
type ProcessOptions struct {
	// Name identifies the process in errors and names its log file. Required.
	Name string
	// Path is the executable. Required.
	Path string
	// Args are the arguments after the executable name.
	Args []string
	// Env is added to the test binary's environment (KEY=value entries).
	Env []string
	// Dir is the working directory; empty means the test's.
	Dir string
	// LogDir receives Name.log with the process's stdout and stderr.
	// Required.
	LogDir string
	// Ready, when set, is polled every 100ms after the start until it
	// returns nil. StartProcess fails if the process exits first or
	// ReadyTimeout passes; the error then carries the log's tail.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds the wait for Ready; zero means 60s.
	ReadyTimeout time.Duration
}

// Process is a running subprocess started by StartProcess. It runs in its
// own process group and receives SIGKILL if the test binary dies without
// stopping it, so a panicking or timed-out test leaves no process behind.
type Process struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	logFile *os.File
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// StartProcess starts a subprocess with its output captured in a log file and
// waits for opts.Ready. When the process exits before it is ready, or
// readiness times out, the process is stopped and the error includes the last
// lines of its log. Every started process is also registered for StopAll.
func StartProcess(ctx context.Context, opts ProcessOptions) (*Process, error) {
	if opts.Name == "" || opts.Path == "" || opts.LogDir == "" {
		return nil, errors.New("framework: ProcessOptions needs Name, Path and LogDir")
	}
	logPath := filepath.Join(opts.LogDir, opts.Name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("framework: log file for %s: %w", opts.Name, err)
	}
	cmd := exec.Command(opts.Path, opts.Args...)
	cmd.Dir = opts.Dir
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Own process group, so Stop can signal everything the process
		// spawned and a Ctrl-C aimed at `go test` does not race our Stop.
		Setpgid: true,
		// If the test binary dies (panic, test timeout, SIGKILL), the
		// kernel kills the child. Pdeathsig fires when the starting
		// thread exits, hence the dedicated locked thread in spawn.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := spawn(cmd); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("framework: start %s: %w", opts.Name, err)
	}
	p := &Process{name: opts.Name, logPath: logPath, cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	register(p)

	if opts.Ready == nil {
		return p, nil
	}
	timeout := opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	if err := p.waitReady(ctx, opts.Ready, timeout); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

func (p *Process) waitReady(ctx context.Context, ready func(context.Context) error, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 5*time.Second)
		lastErr = ready(attempt)
		cancelAttempt()
		if lastErr == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("framework: %s exited during start-up (%v); last lines of %s:\n%s",
				p.name, p.waitErr, p.logPath, p.Tail(30))
		case <-ctx.Done():
			return fmt.Errorf("framework: %s not ready after %s (last check: %v); last lines of %s:\n%s",
				p.name, timeout, lastErr, p.logPath, p.Tail(30))
		case <-tick.C:
		}
	}
}

// Pid returns the process ID (hack/bench reads its CPU time and memory).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// LogPath returns the file holding the process's stdout and stderr.
func (p *Process) LogPath() string { return p.logPath }

// Log returns the whole log captured so far.
func (p *Process) Log() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(b)
}

// Tail returns the last n lines of the log.
func (p *Process) Tail(n int) string {
	b := bytes.TrimRight([]byte(p.Log()), "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// Exited is closed when the process has exited, whether stopped or not.
// Select on it to notice a webhook that crashed in the middle of a test.
func (p *Process) Exited() <-chan struct{} { return p.done }

// ExitErr returns the process's exit status once Exited is closed (nil
// for a zero exit).
func (p *Process) ExitErr() error {
	select {
	case <-p.done:
		return p.waitErr
	default:
		return nil
	}
}

// Stop sends SIGTERM to the process group, waits up to 20s for the process
// to exit, then sends SIGKILL. It is safe to call more than once and on a
// process that already exited. An exit caused by the SIGTERM is not an
// error; an earlier crash is reported.
func (p *Process) Stop() error {
	p.stopOnce.Do(func() {
		select {
		case <-p.done:
			if p.waitErr != nil {
				p.stopErr = fmt.Errorf("framework: %s had already exited: %w", p.name, p.waitErr)
			}
			unregister(p)
			return
		default:
		}
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			p.stopErr = fmt.Errorf("framework: %s ignored SIGTERM for 20s and was killed", p.name)
		}
		// Children left in the group after the leader exited.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		unregister(p)
	})
	return p.stopErr
}

var (
	registryMu sync.Mutex
	registry   = map[*Process]struct{}{}
)

func register(p *Process) {
	registryMu.Lock()
	defer registryMu.Unlock()
	registry[p] = struct{}{}
}

func unregister(p *Process) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, p)
}

// StopAll stops every process started by StartProcess that has not been
// stopped yet, in parallel. Call it (deferred) from TestMain as a backstop.
func StopAll() {
	registryMu.Lock()
	procs := make([]*Process, 0, len(registry))
	for p := range registry {
		procs = append(procs, p)
	}
	registryMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Go(func() { _ = p.Stop() })
	}
	wg.Wait()
}

// spawnRequests is served by one goroutine locked to its OS thread for the
// life of the test binary: Pdeathsig is tied to the thread that started the
// child, and the Go runtime may otherwise retire that thread.
var (
	spawnOnce     sync.Once
	spawnRequests chan spawnRequest
)

type spawnRequest struct {
	cmd  *exec.Cmd
	errc chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnRequests = make(chan spawnRequest)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives on
			for req := range spawnRequests {
				req.errc <- req.cmd.Start()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnRequests <- spawnRequest{cmd: cmd, errc: errc}
	return <-errc
}

// FreePorts returns n distinct TCP ports on 127.0.0.1 that nothing listens
// on at the moment of the call. Another process may take one before it is
// used; the start-up of the process that uses it then fails loudly.
func FreePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		// Keep each listener open until all ports are chosen, so the
		// kernel cannot hand out the same port twice.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("framework: find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
