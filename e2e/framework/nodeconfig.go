package framework

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// nodeConfig writes containerd's, the CNI's and the kubelet's configuration
// files into dir.
type nodeConfig struct {
	dir, socket, sandboxImage, cniBinDir, subnet string
	kubeletPort, healthzPort                     int
}

func (c nodeConfig) path(name string) string { return filepath.Join(c.dir, name) }

func (c nodeConfig) write(plainHTTP []string) error {
	for _, d := range []string{"certs.d", "net.d", "cni-ipam", "kubelet", "kubelet-pki", "pod-logs", "volume-plugins", "containerd-root", "containerd-state"} {
		if err := os.MkdirAll(c.path(d), 0o700); err != nil {
			return fmt.Errorf("framework: %w", err)
		}
	}
	for _, host := range plainHTTP {
		dir := filepath.Join(c.path("certs.d"), host)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("framework: %w", err)
		}
		hosts := fmt.Sprintf("server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", "http://"+host, "http://"+host)
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
			return fmt.Errorf("framework: %w", err)
		}
	}
	files := map[string]string{
		"containerd.toml":                   c.containerd(),
		"net.d/10-secure-defaults.conflist": c.cni(),
		"kubelet.yaml":                      c.kubelet(),
	}
	for name, content := range files {
		if err := os.WriteFile(c.path(name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("framework: %w", err)
		}
	}
	return nil
}

// containerd: its own root, state and socket; the CRI plugin with the local
// sandbox image, cgroupfs, restrict_oom_score_adj (the sandbox lacks
// CAP_SYS_RESOURCE), the bridge CNI and registry hosts under config_path.
// Plugins that would write outside root/state are disabled.
func (c nodeConfig) containerd() string {
	r := strings.NewReplacer(
		"ROOT", c.path("containerd-root"),
		"STATE", c.path("containerd-state"),
		"SOCKET", c.socket,
		"SANDBOX", c.sandboxImage,
		"CNIBIN", c.cniBinDir,
		"CNICONF", c.path("net.d"),
		"CERTSD", c.path("certs.d"),
	)
	return r.Replace(`version = 2
root = "ROOT"
state = "STATE"
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "SOCKET"

[ttrpc]
  address = "SOCKET.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "SANDBOX"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "CNIBIN"
    conf_dir = "CNICONF"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "CERTSD"
`)
}

// cni: a bridge that is not a gateway and does no masquerading, so pod
// traffic stays on the bridge; addresses from host-local with its state in
// the node's directory.
func (c nodeConfig) cni() string {
	return fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "secure-defaults-e2e",
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": false,
      "ipMasq": false,
      "hairpinMode": false,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": %q}]],
        "dataDir": %q
      }
    }
  ]
}
`, bridgeName, c.subnet, c.path("cni-ipam"))
}

// kubelet: cgroupfs on cgroup v1, loopback only, anonymous access allowed
// (the API server reaches it for logs and exec), no image garbage
// collection (local images cannot be pulled again), low disk eviction
// thresholds, no iptables utility chains, everything it may write in dir.
func (c nodeConfig) kubelet() string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://%s
address: 127.0.0.1
port: %d
healthzBindAddress: 127.0.0.1
healthzPort: %d
readOnlyPort: 0
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
makeIPTablesUtilChains: false
podLogsDir: %s
volumePluginDir: %s
serializeImagePulls: false
registerNode: true
syncFrequency: 5s
fileCheckFrequency: 5s
nodeStatusUpdateFrequency: 5s
`, c.socket, c.kubeletPort, c.healthzPort, c.path("pod-logs"), c.path("volume-plugins"))
}
