// Package framework runs a real Kubernetes cluster — etcd and
// kube-apiserver v1.37.2 on loopback ports and, when asked, containerd and a
// kubelet — for the end-to-end tests, `make demo` and `make bench`; runs the
// processes under test next to it; and stops all of them afterwards, leaving
// the host as it found it. It is the project's one launcher.
//
// There is no controller-manager or scheduler. Pods are stored and stay
// Pending unless bound to the node (spec.nodeName NodeName); namespaces
// cannot be deleted for good; CreateNamespace adds what the controller-manager
// would (the default ServiceAccount, kube-root-ca.crt). Admission — mutating
// webhooks, Pod Security, the ServiceAccount plugin, validation — is the real
// API server's.
//
// # A node: pods that run
//
// Options.Node starts containerd (Debian's 1.6, with runc and the CNI
// plugins: hack/node-packages.sh installs them) and a kubelet v1.37.2
// registered as NodeName. It needs root. Images come from an
// images.Registry on 127.0.0.1 (package images builds them from static Go
// binaries), pulled over plain HTTP; the sandbox image is images.Pause:
//
//	reg, _ := images.StartRegistry()
//	refs, _ := images.PushTestImages(ctx, reg, repoRoot, workDir)
//	cp, _ := framework.Start(ctx, framework.Options{BinDir: bins, Node: &framework.NodeOptions{
//		SandboxImage: refs.Pause, PlainHTTPRegistries: []string{reg.Host}}})
//	o := cp.RunPod(ctx, pod, time.Minute)     // Running, Succeeded, or the kubelet's reason
//	r, _ := cp.ProbeReport(ctx, o.Pod, "app") // what the probe saw from inside
//
// Only one node runs on a host at a time: Start waits for a host-wide lock
// (/run/secure-defaults-e2e/node.lock). Before starting it records what the
// kubelet and containerd change on the host — sysctls (vm.overcommit_memory,
// kernel.panic, kernel.panic_on_oops, ...), iptables chains, host directories
// (/var/lib/kubelet, /var/lib/cni, /run/netns, /run/containerd, ...),
// network namespaces, the kubepods cgroups, the CNI bridge — and Stop undoes
// it: it deletes the pods, stops the kubelet, removes containerd's
// containers, stops containerd, kills leftover shims and container
// processes, unmounts, and restores or removes the rest. A run killed
// before its teardown (SIGKILL, a `go test -timeout` panic) leaves that
// record behind, and the next Start cleans up after it first.
//
// Networking stays on loopback and the pods' bridge: the API server, etcd,
// the kubelet and containerd's streaming server listen on 127.0.0.1; the
// bridge is not a gateway and does not masquerade; the kubelet creates no
// iptables utility chains. Pods with hostNetwork use the host's loopback.
//
// StartWebhookPod runs the project's image as a pod made from deploy/base,
// with the shipped securityContext.
//
// # Binaries
//
// hack/e2e-bins.sh builds kube-apiserver, etcd, kubectl and kubelet once into a cache
// outside the repository and prints the directory. Set
// SECURE_DEFAULTS_E2E_BINS (BinsEnv) to that directory; without it BinDir
// runs the script itself, and a first build (minutes) then counts against
// the `go test` timeout:
//
//	export SECURE_DEFAULTS_E2E_BINS="$(hack/e2e-bins.sh)"
//	go test -tags e2e ./e2e/ -v
//
// Set SECURE_DEFAULTS_E2E_KEEP=1 (KeepEnv) to keep the control plane's
// directory (logs, kubeconfig) after a run; it is kept after a failure too
// when TestMain calls KeepDir as below.
//
// # Starting the control plane
//
// Start it once per test binary from TestMain, in the `e2e` build tag so
// `go test ./...` does not run it (e2e/smoke_test.go holds the package's
// TestMain and a shared controlPlane variable; reuse them):
//
//	var controlPlane *framework.ControlPlane
//
//	func TestMain(m *testing.M) { os.Exit(run(m)) }
//
//	func run(m *testing.M) int {
//		defer framework.StopAll() // backstop for every started process
//		bins, err := framework.BinDir(context.Background()) // may build: no deadline
//		if err != nil { ...; return 1 }
//		cp, err := framework.Start(ctx, framework.Options{BinDir: bins})
//		if err != nil { ...; return 1 }
//		controlPlane = cp
//		code := m.Run()
//		if code != 0 { cp.KeepDir(); cp.DumpLogs(os.Stderr, 40) }
//		cp.Stop()
//		return code
//	}
//
// Start returns a ControlPlane with Config (a *rest.Config for a
// system:masters user), Client (a clientset), CAPEM (the API server's
// certificate), Kubeconfig (a file for kubectl, which is in BinDir) and the
// two Processes. Start fails with the log tail of whichever process died or
// did not become ready. Options.APIServerArgs appends kube-apiserver flags.
//
// Every process is started in its own process group with Pdeathsig=SIGKILL:
// Stop (and StopAll) sends SIGTERM to the group and waits for the exit, and
// if the test binary itself dies — a panic, `go test -timeout`, Ctrl-C — the
// kernel kills the children, so no run leaves processes or ports behind.
//
// # Namespaces and pods
//
// CreateNamespace(ctx, "prefix-", labels) creates a uniquely named namespace
// and its "default" ServiceAccount; take a fresh one in every test. Labels
// select the webhook (secure-defaults.dev/inject: enabled) and Pod Security
// (pod-security.kubernetes.io/enforce: restricted).
//
// DryRunCreate creates a pod with dryRun=All: every admission step runs,
// nothing is stored, the would-be pod or the rejection comes back.
//
// # Testing the webhook
//
// Build and start the real binary, with a certificate the API server trusts:
//
//	bin, err := framework.GoBuild(ctx, dir, "./cmd/secure-defaults")
//	cert, err := framework.GenerateServingCert(dir, "127.0.0.1")
//	ports, err := framework.FreePorts(2) // webhook, metrics
//	webhook, err := framework.StartProcess(ctx, framework.ProcessOptions{
//		Name:   "secure-defaults",
//		Path:   bin,
//		Args: []string{"serve",
//			fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]),
//			fmt.Sprintf("--metrics-listen=127.0.0.1:%d", ports[1]),
//			"--tls-cert-file=" + cert.CertFile,
//			"--tls-private-key-file=" + cert.KeyFile,
//		},
//		LogDir: dir,
//		Ready:  /* GET http://127.0.0.1:ports[1]/readyz answers 200 */,
//	})
//
// StartProcess captures stdout and stderr in LogDir/Name.log (Log, Tail,
// LogPath), polls Ready every 100ms and fails with the log's tail if the
// process exits first or ReadyTimeout (default 60s) passes. Exited is closed
// when the process exits, e.g. to notice a crash mid-test; Stop stops it
// (for the "webhook down" cases) and reports an earlier crash as an error.
//
// Then register a MutatingWebhookConfiguration through cp.Client with
// clientConfig.url "https://127.0.0.1:PORT/mutate" and caBundle cert.CAPEM
// (the API server adds "?timeout=Ns" to the URL). The API server learns of
// webhook configurations through an informer, a moment after the write, so
// wait before asserting:
//
//	err := cp.WaitForMutation(ctx, probePod, func(p *corev1.Pod) bool {
//		return p.Annotations[defaults.DefaultedAnnotation] != ""
//	})
//
// After changing or deleting the configuration (e.g. switching failurePolicy)
// or stopping the webhook, wait for the new behaviour the same way with
// WaitForDryRun, whose callback sees the admitted pod or the error.
package framework
