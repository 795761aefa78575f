package framework

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

// KeepEnv names an environment variable: when set to a non-empty value, Stop
// keeps the control plane's directory (logs, etcd data, kubeconfig).
const KeepEnv = "SECURE_DEFAULTS_E2E_KEEP"

// Options configures Start. The zero value is ready to use.
type Options struct {
	// BinDir holds etcd and kube-apiserver; empty means BinDir().
	BinDir string
	// Dir is the working directory for certificates, logs and etcd data;
	// empty means a fresh temporary directory, removed by Stop.
	Dir string
	// KeepDir keeps Dir after Stop (also when $KeepEnv is set).
	KeepDir bool
	// APIServerArgs are extra kube-apiserver flags, appended last so they
	// override the defaults (e.g. "--disable-admission-plugins=...").
	APIServerArgs []string
	// ReadyTimeout bounds the wait for etcd and for /readyz; zero means 60s.
	ReadyTimeout time.Duration
	// Node, when set, also starts containerd and a kubelet registered as
	// NodeName, so pods bound to it run (needs root; see NodeOptions).
	Node *NodeOptions
}

// ControlPlane is a running etcd and kube-apiserver on loopback ports, and
// when asked a Node (containerd and a kubelet). There is no
// controller-manager or scheduler: pods not bound to the node stay Pending,
// deleted namespaces stay Terminating, and no ServiceAccount is created for
// you (use CreateNamespace). Admission is fully real.
type ControlPlane struct {
	// Config authenticates as a member of system:masters. Copy it
	// (rest.CopyConfig) before changing it.
	Config *rest.Config
	// Client is a clientset built from Config.
	Client kubernetes.Interface
	// CAPEM is the PEM certificate clients use to verify the API server
	// (the self-signed serving certificate it wrote into its cert dir).
	CAPEM []byte
	// Kubeconfig is the path of a kubeconfig file for Config, for kubectl.
	Kubeconfig string
	// Dir is the working directory (see Options.Dir).
	Dir string
	// BinDir holds the binaries in use, kubectl included when it was built.
	BinDir string
	// Etcd and APIServer are the two processes; their logs are in Dir.
	Etcd, APIServer *Process
	// Node is the kubelet and containerd, when Options.Node asked for them.
	Node *Node

	keepDir bool
}

// Start starts etcd and kube-apiserver on free loopback ports and waits
// until /readyz answers ok. On failure it stops whatever it started and
// returns an error with the failing process's log tail. Call Stop when done;
// StopAll also stops both processes, and they are killed if the test binary
// dies.
func Start(ctx context.Context, opts Options) (cp *ControlPlane, err error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	cp = &ControlPlane{BinDir: opts.BinDir, Dir: opts.Dir, keepDir: opts.KeepDir || os.Getenv(KeepEnv) != ""}
	if cp.BinDir == "" {
		if cp.BinDir, err = BinDir(ctx); err != nil {
			return nil, err
		}
	}
	if cp.Dir == "" {
		if cp.Dir, err = os.MkdirTemp("", "secure-defaults-e2e-"); err != nil {
			return nil, fmt.Errorf("framework: %w", err)
		}
	}
	defer func() {
		if err != nil {
			if stopErr := cp.Stop(); stopErr != nil {
				err = errors.Join(err, stopErr)
			}
			cp = nil
		}
	}()

	certDir := filepath.Join(cp.Dir, "certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		return cp, fmt.Errorf("framework: %w", err)
	}
	saKey, err := writeServiceAccountKey(cp.Dir)
	if err != nil {
		return cp, err
	}
	token, err := randomToken()
	if err != nil {
		return cp, err
	}
	tokenFile := filepath.Join(cp.Dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(token+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return cp, fmt.Errorf("framework: %w", err)
	}

	ports, err := FreePorts(3)
	if err != nil {
		return cp, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	apiURL := fmt.Sprintf("https://127.0.0.1:%d", ports[2])

	cp.Etcd, err = StartProcess(ctx, ProcessOptions{
		Name: "etcd",
		Path: filepath.Join(cp.BinDir, "etcd"),
		Args: []string{
			"--name=e2e",
			"--data-dir=" + filepath.Join(cp.Dir, "etcd-data"),
			"--listen-client-urls=" + etcdURL,
			"--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peerURL,
			"--initial-advertise-peer-urls=" + peerURL,
			"--initial-cluster=e2e=" + peerURL,
			"--unsafe-no-fsync=true",
		},
		LogDir:       cp.Dir,
		Ready:        httpOK(http.DefaultClient, etcdURL+"/health"),
		ReadyTimeout: opts.ReadyTimeout,
	})
	if err != nil {
		return cp, err
	}

	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[2]),
		// 1.37 refuses a loopback advertise address with the default
		// endpoint reconciler.
		"--endpoint-reconciler-type=none",
		"--cert-dir=" + certDir,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saKey,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.0.0.0/24",
		// As real clusters have it; without it every privileged container
		// is rejected as invalid before admission sees it.
		"--allow-privileged=true",
		// The kubelet registers as "localhost" (--node-ip refuses
		// loopback): logs, exec and attach then stay on loopback.
		"--kubelet-preferred-address-types=Hostname",
	}
	args = append(args, opts.APIServerArgs...)
	cp.APIServer, err = StartProcess(ctx, ProcessOptions{
		Name:         "kube-apiserver",
		Path:         filepath.Join(cp.BinDir, "kube-apiserver"),
		Args:         args,
		LogDir:       cp.Dir,
		Ready:        cp.apiServerReady(apiURL, token, filepath.Join(certDir, "apiserver.crt")),
		ReadyTimeout: opts.ReadyTimeout,
	})
	if err != nil {
		return cp, err
	}

	cp.Kubeconfig = filepath.Join(cp.Dir, "kubeconfig")
	if err := writeKubeconfig(cp.Kubeconfig, cp.Config); err != nil {
		return cp, err
	}
	if opts.Node != nil {
		if cp.Node, err = startNode(ctx, cp, *opts.Node); err != nil {
			return cp, err
		}
	}
	return cp, nil
}

// apiServerReady returns a readiness check that waits for the serving
// certificate, then for /readyz, and fills in cp's client fields once
// /readyz answers ok.
func (cp *ControlPlane) apiServerReady(apiURL, token, certFile string) func(context.Context) error {
	return func(ctx context.Context) error {
		if cp.Client == nil {
			ca, err := os.ReadFile(certFile)
			if err != nil || len(ca) == 0 {
				return fmt.Errorf("no serving certificate yet in %s", certFile)
			}
			cfg := &rest.Config{
				Host:            apiURL,
				BearerToken:     token,
				TLSClientConfig: rest.TLSClientConfig{CAData: ca},
				QPS:             100,
				Burst:           200,
			}
			client, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				return err
			}
			cp.CAPEM, cp.Config, cp.Client = ca, cfg, client
		}
		body, err := cp.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("/readyz: %w: %s", err, body)
		}
		if string(body) != "ok" {
			return fmt.Errorf("/readyz: %q", body)
		}
		return nil
	}
}

// Stop stops the node (see Node.Stop) if there is one, then kube-apiserver,
// then etcd (the API server ignores SIGTERM for long while etcd is gone),
// waiting for each to exit, and removes Dir unless it is to be kept. It is
// safe to call more than once.
func (cp *ControlPlane) Stop() error {
	var errs []error
	if cp.Node != nil {
		errs = append(errs, cp.Node.Stop())
	}
	for _, p := range []*Process{cp.APIServer, cp.Etcd} {
		if p != nil {
			errs = append(errs, p.Stop())
		}
	}
	if !cp.keepDir && cp.Dir != "" {
		errs = append(errs, os.RemoveAll(cp.Dir))
	}
	return errors.Join(errs...)
}

// DumpLogs writes the last n lines of each process's log to w, for
// TestMain to print when a test failed.
func (cp *ControlPlane) DumpLogs(w io.Writer, n int) {
	for _, p := range []*Process{cp.Etcd, cp.APIServer} {
		if p != nil {
			fmt.Fprintf(w, "----- last %d lines of %s -----\n%s\n", n, p.LogPath(), p.Tail(n))
		}
	}
	if cp.Node != nil {
		cp.Node.DumpLogs(w, n)
	}
}

// KeepDir makes Stop keep Dir, e.g. after a failure, so its logs can be read.
func (cp *ControlPlane) KeepDir() { cp.keepDir = true }

// HTTPOK is a ProcessOptions.Ready check: GET url answers 200.
func HTTPOK(url string) func(context.Context) error { return httpOK(http.DefaultClient, url) }

func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
		}
		return nil
	}
}

func writeServiceAccountKey(dir string) (string, error) {
	// RSA: the kube-apiserver signs service-account tokens with RS256 by
	// default, and reads the PKCS #8 key for both signing and verifying.
	key, err := pki.NewKey(pki.RSA)
	if err != nil {
		return "", fmt.Errorf("framework: service account key: %w", err)
	}
	keyPEM, err := pki.EncodeKey(key)
	if err != nil {
		return "", fmt.Errorf("framework: service account key: %w", err)
	}
	path := filepath.Join(dir, "sa.key")
	if err := os.WriteFile(path, keyPEM, 0o600); err != nil {
		return "", fmt.Errorf("framework: %w", err)
	}
	return path, nil
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("framework: token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["local"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	kc.CurrentContext = "local"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("framework: kubeconfig: %w", err)
	}
	return nil
}
