package framework

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hostDir holds the host-wide lock and the record of what a node run must
// undo. One kubelet and containerd at a time per host: the kubelet owns
// host-global state (sysctls, iptables chains, /var/lib/kubelet/..., the
// kubepods cgroups).
const hostDir = "/run/secure-defaults-e2e"

// Host-global paths a kubelet, containerd or the CNI plugins create whatever
// their flags say. Those missing before a node starts are removed after it.
var hostPaths = []string{
	"/var/lib/kubelet",
	"/var/log/containers",
	"/var/log/pods",
	"/usr/libexec/kubernetes",
	"/var/lib/cni",
	"/run/netns",
	"/run/containerd",
	"/opt/containerd",
}

// Sysctls the kubelet sets (vm.overcommit_memory, kernel.panic, ...) or the
// bridge plugin may set; restored after a node run.
var hostSysctls = []string{
	"vm.overcommit_memory",
	"vm.panic_on_oom",
	"kernel.panic",
	"kernel.panic_on_oops",
	"kernel.keys.root_maxkeys",
	"kernel.keys.root_maxbytes",
	"net.ipv4.ip_forward",
	"net.ipv6.conf.all.forwarding",
}

// cgroupV1Root is where cgroup v1 hierarchies (or the v2 tree) are mounted.
const cgroupV1Root = "/sys/fs/cgroup"

// hostState is what a node run recorded before it started, written to
// hostDir/state.json so a run killed before its teardown is cleaned up by the
// next one.
type hostState struct {
	// Dir is the node's working directory (containerd root and state, the
	// kubelet root dir): everything mounted below it is unmounted.
	Dir string `json:"dir"`
	// Socket is containerd's socket: its shims name it on their command line.
	Socket string `json:"socket"`
	// Bridge is the CNI bridge's name.
	Bridge  string            `json:"bridge"`
	Sysctls map[string]string `json:"sysctls"`
	// Chains are the iptables chains ("iptables filter FOO") present before.
	Chains []string `json:"chains"`
	// MissingPaths are hostPaths that did not exist before.
	MissingPaths []string `json:"missingPaths"`
	// Netns are the entries of /run/netns before.
	Netns []string `json:"netns"`
	// Kubepods are the kubepods cgroup directories present before.
	Kubepods []string `json:"kubepods"`
	// BridgeExisted is true when the bridge was there before.
	BridgeExisted bool `json:"bridgeExisted"`
}

// hostLock is the held host-wide node lock.
type hostLock struct{ f *os.File }

// lockHost takes the host-wide node lock, waiting while another run holds
// it, until ctx ends.
func lockHost(ctx context.Context, logf func(string, ...any)) (*hostLock, error) {
	if err := os.MkdirAll(hostDir, 0o700); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(hostDir, "node.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return &hostLock{f: f}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("framework: lock %s: %w", f.Name(), err)
		}
		if !said {
			logf("another kubelet/containerd run holds %s; waiting", f.Name())
			said = true
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("framework: waiting for the host lock %s: %w", f.Name(), context.Cause(ctx))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (l *hostLock) unlock() {
	if l != nil && l.f != nil {
		_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
		l.f.Close()
		l.f = nil
	}
}

func statePath() string { return filepath.Join(hostDir, "state.json") }

// recoverHost undoes a previous node run that died before its teardown, if
// its record is still there. Call it holding the lock.
func recoverHost(logf func(string, ...any)) error {
	b, err := os.ReadFile(statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("framework: %w", err)
	}
	var st hostState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("framework: %s: %w", statePath(), err)
	}
	logf("a previous node run (%s) ended without its teardown; cleaning up after it", st.Dir)
	err = cleanHost(&st)
	_ = os.RemoveAll(st.Dir)
	return err
}

// recordHost captures the host state a node run will change and writes it.
func recordHost(dir, socket, bridge string) (*hostState, error) {
	st := &hostState{Dir: dir, Socket: socket, Bridge: bridge, Sysctls: map[string]string{}}
	for _, k := range hostSysctls {
		if v, err := readSysctl(k); err == nil {
			st.Sysctls[k] = v
		}
	}
	st.Chains = iptablesChains()
	for _, p := range hostPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			st.MissingPaths = append(st.MissingPaths, p)
		}
	}
	st.Netns = dirNames("/run/netns")
	st.Kubepods = kubepodsDirs()
	_, err := os.Stat(filepath.Join("/sys/class/net", bridge))
	st.BridgeExisted = err == nil
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	if err := os.WriteFile(statePath(), b, 0o600); err != nil {
		return nil, fmt.Errorf("framework: %w", err)
	}
	return st, nil
}

// cleanHost undoes what a node run changed, given what it recorded; the
// kubelet and containerd must already be stopped. It goes on past errors
// and returns them all. On success the record is removed.
func cleanHost(st *hostState) error {
	var errs []error
	// Shims outlive containerd (they are not in its process group).
	errs = append(errs, killProcs(shimPids(st.Socket)))
	// Container processes the shims left behind, found by cgroup.
	errs = append(errs, killProcs(cgroupPids(st.Kubepods)))
	errs = append(errs, unmountBelow(st))
	for _, n := range dirNames("/run/netns") {
		if !slices.Contains(st.Netns, n) {
			errs = append(errs, os.Remove(filepath.Join("/run/netns", n)))
		}
	}
	if !st.BridgeExisted {
		if _, err := os.Stat(filepath.Join("/sys/class/net", st.Bridge)); err == nil {
			errs = append(errs, run("ip", "link", "delete", st.Bridge))
		}
	}
	errs = append(errs, removeCgroups(st.Kubepods))
	errs = append(errs, removeChains(st.Chains))
	for k, v := range st.Sysctls {
		if now, err := readSysctl(k); err == nil && now != v {
			errs = append(errs, writeSysctl(k, v))
		}
	}
	for _, p := range st.MissingPaths {
		errs = append(errs, os.RemoveAll(p))
	}
	err := errors.Join(errs...)
	if err == nil {
		err = os.Remove(statePath())
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	}
	return err
}

func sysctlPath(key string) string {
	return filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value+"\n"), 0o644); err != nil {
		return fmt.Errorf("framework: restore sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func dirNames(dir string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("framework: %s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// iptablesTables are the tables the kubelet touches.
var iptablesTables = []string{"filter", "nat", "mangle"}

// iptablesChains lists "BINARY TABLE CHAIN" for every chain that exists.
func iptablesChains() []string {
	var out []string
	for _, bin := range []string{"iptables", "ip6tables"} {
		for _, table := range iptablesTables {
			rules, err := exec.Command(bin, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(rules), "\n") {
				if chain, ok := strings.CutPrefix(line, "-N "); ok {
					out = append(out, bin+" "+table+" "+strings.TrimSpace(chain))
				}
			}
		}
	}
	return out
}

// removeChains deletes the KUBE-* chains that were not in before, with the
// rules that jump to them.
func removeChains(before []string) error {
	var errs []error
	for _, bin := range []string{"iptables", "ip6tables"} {
		if _, err := exec.LookPath(bin); err != nil {
			continue
		}
		for _, table := range iptablesTables {
			rules, err := exec.Command(bin, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			var ours []string
			for _, line := range strings.Split(string(rules), "\n") {
				chain, ok := strings.CutPrefix(line, "-N ")
				if ok && strings.HasPrefix(chain, "KUBE-") && !slices.Contains(before, bin+" "+table+" "+chain) {
					ours = append(ours, chain)
				}
			}
			if len(ours) == 0 {
				continue
			}
			// Rules elsewhere that jump to our chains.
			for _, line := range strings.Split(string(rules), "\n") {
				rest, ok := strings.CutPrefix(line, "-A ")
				if !ok {
					continue
				}
				fields := strings.Fields(rest)
				for i := 0; i+1 < len(fields); i++ {
					if (fields[i] == "-j" || fields[i] == "-g") && slices.Contains(ours, fields[i+1]) && !slices.Contains(ours, fields[0]) {
						errs = append(errs, run(bin, append([]string{"-w", "5", "-t", table, "-D"}, unquote(fields)...)...))
						break
					}
				}
			}
			for _, c := range ours {
				errs = append(errs, run(bin, "-w", "5", "-t", table, "-F", c))
			}
			for _, c := range ours {
				errs = append(errs, run(bin, "-w", "5", "-t", table, "-X", c))
			}
		}
	}
	return errors.Join(errs...)
}

// unquote strips the quotes iptables -S puts around comments; a comment
// with spaces is rejoined.
func unquote(fields []string) []string {
	var out []string
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		if strings.HasPrefix(f, `"`) {
			s := f
			for !strings.HasSuffix(s, `"`) || len(s) == 1 {
				if i+1 >= len(fields) {
					break
				}
				i++
				s += " " + fields[i]
			}
			if u, err := strconv.Unquote(s); err == nil {
				f = u
			} else {
				f = strings.Trim(s, `"`)
			}
		}
		out = append(out, f)
	}
	return out
}

// shimPids returns the containerd shims serving the containerd at socket.
func shimPids(socket string) []int {
	var out []int
	for _, pid := range allPids() {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(b), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == socket {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

func allPids() []int {
	var out []int
	for _, name := range dirNames("/proc") {
		if pid, err := strconv.Atoi(name); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// kubepodsDirs returns every kubepods directory of the cgroup hierarchies
// (kubepods at the top of each v1 hierarchy, or of the v2 tree).
func kubepodsDirs() []string {
	var out []string
	if _, err := os.Stat(filepath.Join(cgroupV1Root, "kubepods")); err == nil {
		out = append(out, filepath.Join(cgroupV1Root, "kubepods"))
	}
	for _, h := range dirNames(cgroupV1Root) {
		p := filepath.Join(cgroupV1Root, h, "kubepods")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// cgroupPids returns the processes in the kubepods cgroups created since
// before.
func cgroupPids(before []string) []int {
	seen := map[int]bool{}
	var out []int
	for _, top := range kubepodsDirs() {
		if slices.Contains(before, top) {
			continue
		}
		_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// killProcs sends SIGKILL to pids and waits up to 10s for them to be gone.
func killProcs(pids []int) error {
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for {
			// A zombie is gone for our purposes: its parent reaps it.
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil || strings.Contains(string(b), ") Z ") {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("framework: process %d survived SIGKILL", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// removeCgroups removes the kubepods cgroup trees created since before,
// deepest first.
func removeCgroups(before []string) error {
	var errs []error
	for _, top := range kubepodsDirs() {
		if slices.Contains(before, top) {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for range 50 { // a cgroup is busy for a moment after its last process died
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("framework: rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// unmountBelow unmounts, deepest first, every mount under the node's
// directory and under the host paths and /run/netns entries the run created.
func unmountBelow(st *hostState) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return fmt.Errorf("framework: %w", err)
	}
	defer f.Close()
	prefixes := []string{st.Dir}
	prefixes = append(prefixes, st.MissingPaths...)
	var targets []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		ours := false
		for _, p := range prefixes {
			if mp == p || strings.HasPrefix(mp, p+"/") {
				ours = true
			}
		}
		if n, ok := strings.CutPrefix(mp, "/run/netns/"); ok && !slices.Contains(st.Netns, n) {
			ours = true
		}
		if ours {
			targets = append(targets, mp)
		}
	}
	sort.SliceStable(targets, func(i, j int) bool { return len(targets[i]) > len(targets[j]) })
	var errs []error
	for _, t := range targets {
		if err := syscall.Unmount(t, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("framework: unmount %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount decodes the octal escapes (\040 for a space) of mountinfo.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
