package framework

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeName is the name the kubelet registers (--hostname-override); pods
// run there when their spec.nodeName says so (there is no scheduler).
const NodeName = "localhost"

// Host programs a node needs, from Debian's containerd, runc and
// containernetworking-plugins packages.
var nodeHostBins = []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables"}

// cniBinDirs are searched, in order, for the bridge, host-local and loopback
// plugins (Debian installs them in /usr/lib/cni).
var cniBinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}

// NodeOptions asks Start for a node: containerd and a kubelet registered as
// NodeName, so pods with spec.nodeName NodeName really run.
type NodeOptions struct {
	// SandboxImage is containerd's sandbox ("pause") image. Required: there
	// is no internet to pull the upstream one from (images.Pause).
	SandboxImage string
	// PlainHTTPRegistries are "127.0.0.1:PORT" registries containerd pulls
	// from over plain HTTP (an images.Registry's Host).
	PlainHTTPRegistries []string
	// PodSubnet is the CNI bridge's range; empty means 10.88.77.0/24.
	PodSubnet string
	// ReadyTimeout bounds the wait for containerd and for the node to be
	// Ready; zero means 2 minutes.
	ReadyTimeout time.Duration
	// Logf receives progress messages (waiting for the host lock, cleaning
	// up after an earlier run); nil discards them.
	Logf func(format string, args ...any)
}

// Node is a running containerd and kubelet.
type Node struct {
	// Name is the Node object's name (NodeName).
	Name string
	// Dir holds containerd's root and state, the kubelet's root dir, the
	// configurations and both logs.
	Dir string
	// Socket is containerd's socket (for `ctr --address`).
	Socket string
	// Containerd and Kubelet are the two processes.
	Containerd, Kubelet *Process

	cp    *ControlPlane
	lock  *hostLock
	state *hostState
}

// bridgeName is the CNI bridge: host-wide, like the lock that guards it.
const bridgeName = "sd-e2e0"

// startNode starts containerd and the kubelet against cp and waits for the
// node to be Ready. It takes the host-wide lock first (one node per host),
// and cleans up after a previous run that died before its teardown.
func startNode(ctx context.Context, cp *ControlPlane, opts NodeOptions) (n *Node, err error) {
	if opts.SandboxImage == "" {
		return nil, errors.New("framework: NodeOptions.SandboxImage is required")
	}
	if opts.PodSubnet == "" {
		opts.PodSubnet = "10.88.77.0/24"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 2 * time.Minute
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("framework: a node (kubelet and containerd) needs root: it mounts, sets cgroups and sysctls")
	}
	var missing []string
	for _, b := range nodeHostBins {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	cniDir := ""
	for _, d := range cniBinDirs {
		if _, err := os.Stat(filepath.Join(d, "bridge")); err == nil {
			cniDir = d
			break
		}
	}
	if cniDir == "" {
		missing = append(missing, "CNI plugins (bridge, host-local, loopback)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("framework: a node needs %s: apt-get install -y containerd runc containernetworking-plugins iproute2 iptables", strings.Join(missing, ", "))
	}
	kubelet := filepath.Join(cp.BinDir, "kubelet")
	if _, err := os.Stat(kubelet); err != nil {
		return nil, fmt.Errorf("framework: kubelet missing from %s (run hack/e2e-bins.sh): %w", cp.BinDir, err)
	}

	lock, err := lockHost(ctx, logf)
	if err != nil {
		return nil, err
	}
	n = &Node{Name: NodeName, Dir: filepath.Join(cp.Dir, "node"), cp: cp, lock: lock}
	n.Socket = filepath.Join(n.Dir, "containerd.sock")
	defer func() {
		if err != nil {
			if stopErr := n.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			n = nil
		}
	}()
	if err := recoverHost(logf); err != nil {
		return n, err
	}
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return n, fmt.Errorf("framework: %w", err)
	}
	if n.state, err = recordHost(n.Dir, n.Socket, bridgeName); err != nil {
		return n, err
	}

	ports, err := FreePorts(2)
	if err != nil {
		return n, err
	}
	cfg := nodeConfig{
		dir: n.Dir, socket: n.Socket, sandboxImage: opts.SandboxImage, cniBinDir: cniDir,
		subnet: opts.PodSubnet, kubeletPort: ports[0], healthzPort: ports[1],
	}
	if err := cfg.write(opts.PlainHTTPRegistries); err != nil {
		return n, err
	}

	n.Containerd, err = StartProcess(ctx, ProcessOptions{
		Name:   "containerd",
		Path:   "containerd",
		Args:   []string{"--config", cfg.path("containerd.toml")},
		LogDir: n.Dir,
		Ready: func(ctx context.Context) error {
			return exec.CommandContext(ctx, "ctr", "--address", n.Socket, "version").Run()
		},
		ReadyTimeout: opts.ReadyTimeout,
	})
	if err != nil {
		return n, err
	}
	n.Kubelet, err = StartProcess(ctx, ProcessOptions{
		Name: "kubelet",
		Path: kubelet,
		Args: []string{
			"--config=" + cfg.path("kubelet.yaml"),
			"--kubeconfig=" + cp.Kubeconfig,
			"--root-dir=" + cfg.path("kubelet"),
			"--cert-dir=" + cfg.path("kubelet-pki"),
			"--hostname-override=" + NodeName,
			"--v=1",
		},
		LogDir:       n.Dir,
		Ready:        n.ready,
		ReadyTimeout: opts.ReadyTimeout,
	})
	if err != nil {
		return n, err
	}
	return n, nil
}

// ready reports whether the Node object exists and is Ready.
func (n *Node) ready(ctx context.Context) error {
	node, err := n.cp.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return nil
			}
			return fmt.Errorf("node %s not ready: %s: %s", n.Name, c.Reason, c.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", n.Name)
}

// Stop deletes the pods on the node (so the kubelet tears down their
// sandboxes and networks), stops the kubelet, removes what is left in
// containerd, stops it, and undoes what both changed on the host: shims,
// mounts, network namespaces, the bridge, kubepods cgroups, iptables chains,
// sysctls, host directories. Then it releases the host lock. It is safe to
// call more than once.
func (n *Node) Stop() error {
	if n == nil || n.lock == nil {
		return nil
	}
	var errs []error
	if n.Kubelet != nil {
		select {
		case <-n.Kubelet.Exited():
		default:
			n.drain()
		}
		errs = append(errs, n.Kubelet.Stop())
	}
	if n.Containerd != nil {
		select {
		case <-n.Containerd.Exited():
		default:
			errs = append(errs, n.removeContainers())
		}
		errs = append(errs, n.Containerd.Stop())
	}
	if n.state != nil {
		errs = append(errs, cleanHost(n.state))
	}
	n.lock.unlock()
	n.lock = nil
	return errors.Join(errs...)
}

// drain force-deletes every pod bound to the node and waits (up to 30s) for
// the kubelet to stop their containers.
func (n *Node) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := n.cp.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
	if err != nil {
		return
	}
	zero := int64(0)
	for _, p := range pods.Items {
		_ = n.cp.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
	for ctx.Err() == nil {
		out, err := exec.CommandContext(ctx, "ctr", "--address", n.Socket, "-n", "k8s.io", "tasks", "ls", "-q").Output()
		if err != nil || strings.TrimSpace(string(out)) == "" {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// removeContainers kills and deletes every task and container left in
// containerd's k8s.io namespace.
func (n *Node) removeContainers() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctr := func(args ...string) ([]string, error) {
		out, err := exec.CommandContext(ctx, "ctr", append([]string{"--address", n.Socket, "-n", "k8s.io"}, args...)...).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("framework: ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return strings.Fields(string(out)), nil
	}
	var errs []error
	tasks, err := ctr("tasks", "ls", "-q")
	errs = append(errs, err)
	for _, id := range tasks {
		_, err := ctr("tasks", "delete", "--force", id)
		errs = append(errs, err)
	}
	containers, err := ctr("containers", "ls", "-q")
	errs = append(errs, err)
	for _, id := range containers {
		_, err := ctr("containers", "delete", id)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DumpLogs writes the last lines of containerd's and the kubelet's logs.
func (n *Node) DumpLogs(w interface{ Write([]byte) (int, error) }, lines int) {
	for _, p := range []*Process{n.Containerd, n.Kubelet} {
		if p != nil {
			fmt.Fprintf(w, "----- last %d lines of %s -----\n%s\n", lines, p.LogPath(), p.Tail(lines))
		}
	}
}
