//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/secure-defaults/secure-defaults/e2e/framework"
	"github.com/secure-defaults/secure-defaults/pkg/defaults"
	"github.com/secure-defaults/secure-defaults/pkg/pki"
)

// Lifetimes of the rotation test: the shortest Validate accepts for a CA
// rotation within about a minute. The serving certificate is renewed every
// 20s (two thirds of 30s); the CA at 60s, and the serving certificate moves
// to the new CA once the new caBundle has been published for 3s.
const (
	certsLifetime    = 30 * time.Second
	certsCALifetime  = 90 * time.Second
	certsPropagation = 3 * time.Second
	// certsDeadline bounds the wait, from ready, for a certificate of the
	// second CA to be served: due after about 63s (60s + the propagation
	// delay), so this leaves a busy machine a minute to spare.
	certsDeadline = 2 * time.Minute
	// certsService is the Service name the certificates are issued for
	// (the shipped one, and the manager's default).
	certsService = "secure-defaults"
	certsSecret  = "secure-defaults-tls"
)

// TestBuiltinCertificates runs `serve --cert-mode=builtin` against the real
// API server, as the ServiceAccount the shipped RBAC describes and held by the
// shipped caBundle-only ValidatingAdmissionPolicy: the Secret is
// created, the webhook configuration's caBundle is set to its ca.crt, the
// server goes ready, and while reviews keep flowing the serving certificate
// and then the CA rotate without a single failed review.
//
// The API server cannot reach a Service here (no kube-proxy, no endpoints),
// so the reviews go straight to the webhook on loopback, the way the API
// server would send them: TLS to ServerName <service>.<namespace>.svc,
// trusting exactly the caBundle the webhook configuration holds at that
// moment (re-read every 100ms; the API server's informer is slower).
func TestBuiltinCertificates(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cp := controlPlane
	dir := t.TempDir()

	bin, err := framework.GoBuild(ctx, dir, "./cmd/secure-defaults")
	if err != nil {
		t.Fatal(err)
	}
	ns, err := cp.CreateNamespace(ctx, "certs-", nil)
	if err != nil {
		t.Fatal(err)
	}
	configName := "secure-defaults-" + ns.Name
	kubeconfig := certsServiceAccount(ctx, t, ns.Name, configName, filepath.Join(dir, "kubeconfig"))

	// Two entries: ours, whose caBundle the manager keeps, and one for
	// another Service, which it must leave alone. Neither can affect other
	// tests: the namespaceSelector matches no namespace and a failure is
	// ignored.
	configs := cp.Client.AdmissionregistrationV1().MutatingWebhookConfigurations()
	_, err = configs.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: configName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{
			certsWebhookEntry("pods.secure-defaults.dev", ns.Name, certsService),
			certsWebhookEntry("pods.other.example", ns.Name, "other"),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create MutatingWebhookConfiguration: %v", err)
	}
	t.Cleanup(func() {
		if err := configs.Delete(context.Background(), configName, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete MutatingWebhookConfiguration %s: %v", configName, err)
		}
	})
	// Every caBundle update below passes the policy that lets the
	// ServiceAccount change nothing else.
	applyCABundleOnlyPolicy(ctx, t, configName, "system:serviceaccount:"+ns.Name+":secure-defaults", configName)

	ports, err := framework.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[1])
	started := time.Now()
	proc, err := framework.StartProcess(ctx, framework.ProcessOptions{
		Name: "secure-defaults-builtin",
		Path: bin,
		Args: []string{"serve",
			fmt.Sprintf("--listen=127.0.0.1:%d", ports[0]),
			fmt.Sprintf("--metrics-listen=127.0.0.1:%d", ports[1]),
			"--cert-mode=builtin",
			"--kubeconfig=" + kubeconfig,
			"--cert-namespace=" + ns.Name,
			"--cert-webhook-configuration=" + configName,
			"--cert-lifetime=" + certsLifetime.String(),
			"--cert-ca-lifetime=" + certsCALifetime.String(),
			"--cert-propagation-delay=" + certsPropagation.String(),
			"--cert-check-interval=1s",
		},
		LogDir: dir,
		Ready: func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /readyz: %s", resp.Status)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := proc.Stop(); err != nil {
			t.Errorf("stop the webhook: %v", err)
		}
		if t.Failed() {
			t.Logf("webhook log (%s):\n%s", proc.LogPath(), proc.Tail(60))
		}
	})
	t.Logf("ready %s after start", time.Since(started).Round(10*time.Millisecond))

	serverName := certsService + "." + ns.Name + ".svc"
	var firstCA *x509.Certificate
	t.Run("Secret created and caBundle published", func(t *testing.T) {
		sec, err := cp.Client.CoreV1().Secrets(ns.Name).Get(ctx, certsSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("the certificate Secret: %v", err)
		}
		if sec.Type != corev1.SecretTypeTLS {
			t.Errorf("Secret type %q, want %q", sec.Type, corev1.SecretTypeTLS)
		}
		bundle, err := certsParse(sec.Data[corev1.ServiceAccountRootCAKey])
		if err != nil || len(bundle) != 1 || !bundle[0].IsCA {
			t.Fatalf("Secret's ca.crt: %d certificates, err %v: want one CA", len(bundle), err)
		}
		firstCA = bundle[0]
		if _, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]); err != nil {
			t.Errorf("Secret's tls.crt and tls.key are not a key pair: %v", err)
		}
		serving, err := certsParse(sec.Data[corev1.TLSCertKey])
		if err != nil || len(serving) == 0 {
			t.Fatalf("Secret's tls.crt: %v", err)
		}
		if err := certsVerify(serving[0], sec.Data[corev1.ServiceAccountRootCAKey], serverName); err != nil {
			t.Errorf("serving certificate against ca.crt for %s: %v", serverName, err)
		}
		if life := serving[0].NotAfter.Sub(serving[0].NotBefore); life != certsLifetime {
			t.Errorf("serving certificate lifetime %s, want --cert-lifetime %s", life, certsLifetime)
		}

		// The manager publishes the bundle before it hands the server its
		// first certificate, so it is there by now; allow the write a moment.
		var cfg *admissionregistrationv1.MutatingWebhookConfiguration
		err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			cfg, err = configs.Get(ctx, configName, metav1.GetOptions{})
			return err == nil && len(cfg.Webhooks[0].ClientConfig.CABundle) > 0, err
		})
		if err != nil {
			t.Fatalf("caBundle of %s: %v", configName, err)
		}
		if got := cfg.Webhooks[0].ClientConfig.CABundle; !bytes.Equal(got, sec.Data[corev1.ServiceAccountRootCAKey]) {
			t.Errorf("caBundle of the entry for Service %s is not the Secret's ca.crt:\n%s\nwant\n%s", certsService, got, sec.Data[corev1.ServiceAccountRootCAKey])
		}
		if got := cfg.Webhooks[1].ClientConfig.CABundle; len(got) != 0 {
			t.Errorf("caBundle of the entry for another Service was set: %s", got)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("rotation while reviews flow", func(t *testing.T) {
		load := newCertsLoad(ns.Name, serverName, fmt.Sprintf("https://127.0.0.1:%d/mutate", ports[0]))
		loadCtx, stopLoad := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Go(func() { load.watchBundle(loadCtx, configs, configName) })
		// Wait for the first bundle before sending anything.
		if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return load.pool.Load() != nil, nil
		}); err != nil {
			stopLoad()
			wg.Wait()
			t.Fatal("no caBundle read")
		}
		// Two senders open a new TLS connection for every review (each
		// handshake sees the certificate served right then); one keeps its
		// connection and makes a new client whenever the caBundle changes,
		// as the API server does.
		wg.Go(func() { load.send(loadCtx, false) })
		wg.Go(func() { load.send(loadCtx, false) })
		wg.Go(func() { load.send(loadCtx, true) })

		// Done once a certificate from a second CA has been served, and the
		// first CA served at least two (one serving-certificate rotation).
		deadline := time.After(certsDeadline)
		tick := time.NewTicker(200 * time.Millisecond)
		var timedOut, crashed bool
	wait:
		for {
			select {
			case <-tick.C:
				if load.rotated(firstCA) {
					// A little more traffic on the new certificate.
					time.Sleep(time.Second)
					break wait
				}
			case <-deadline:
				timedOut = true
				break wait
			case <-proc.Exited():
				crashed = true
				break wait
			}
		}
		tick.Stop()
		stopLoad()
		wg.Wait()

		load.report(t, started)
		if crashed {
			t.Fatalf("the webhook exited: %v", proc.ExitErr())
		}
		if timedOut {
			t.Errorf("no serving certificate from a second CA within %s of ready (CA lifetime %s)", certsDeadline, certsCALifetime)
		}
		if n := load.failed.Load(); n > 0 {
			t.Errorf("%d of %d reviews failed; first errors:\n%s", n, n+load.ok.Load(), strings.Join(load.errors(), "\n"))
		}
		if n := load.ok.Load(); n < 100 {
			t.Errorf("only %d reviews succeeded: not enough traffic to cover the rotations", n)
		}
		first, second := load.servedBy(firstCA)
		if first < 2 {
			t.Errorf("the first CA served %d serving certificate(s), want a rotation (2 or more)", first)
		}
		if second < 1 {
			t.Errorf("no serving certificate from a CA other than the first (%s) was served", firstCA.Subject.CommonName)
		}
	})

	t.Run("caBundle matches the Secret after rotation", func(t *testing.T) {
		sec, err := cp.Client.CoreV1().Secrets(ns.Name).Get(ctx, certsSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// The bundle may still be changing (the old CA leaves it when it
		// expires); they agree once the manager's next check has run.
		err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
			cfg, err := configs.Get(ctx, configName, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			if sec, err = cp.Client.CoreV1().Secrets(ns.Name).Get(ctx, certsSecret, metav1.GetOptions{}); err != nil {
				return false, err
			}
			return bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, sec.Data[corev1.ServiceAccountRootCAKey]), nil
		})
		if err != nil {
			t.Fatalf("caBundle never matched the Secret's ca.crt: %v", err)
		}
		bundle, err := certsParse(sec.Data[corev1.ServiceAccountRootCAKey])
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for _, c := range bundle {
			subjects = append(subjects, c.Subject.CommonName)
		}
		t.Logf("trust bundle after rotation: %s", strings.Join(subjects, ", "))
		if !slices.ContainsFunc(bundle, func(c *x509.Certificate) bool { return !c.Equal(firstCA) }) {
			t.Errorf("trust bundle [%s] holds no CA but the first", strings.Join(subjects, ", "))
		}
	})
}

// certsWebhookEntry is a webhook entry for service in ns that no namespace
// ever matches.
func certsWebhookEntry(name, ns, service string) admissionregistrationv1.MutatingWebhook {
	return admissionregistrationv1.MutatingWebhook{
		Name: name,
		ClientConfig: admissionregistrationv1.WebhookClientConfig{
			Service: &admissionregistrationv1.ServiceReference{Namespace: ns, Name: service, Path: ptr.To("/mutate"), Port: ptr.To[int32](443)},
		},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
			Rule: admissionregistrationv1.Rule{
				APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				Scope: ptr.To(admissionregistrationv1.NamespacedScope),
			},
		}},
		NamespaceSelector: &metav1.LabelSelector{
			MatchLabels: map[string]string{"test.secure-defaults.dev/no-namespace-has-this": ns},
		},
		FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
		SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
		AdmissionReviewVersions: []string{"v1"},
		TimeoutSeconds:          ptr.To[int32](5),
	}
}

// certsServiceAccount gives the webhook the identity it has in a cluster: a
// ServiceAccount bound to the Role and ClusterRole of deploy/base/02-rbac.yaml,
// pointed at ns and configName instead of the shipped names. It writes a
// kubeconfig with a token for that ServiceAccount to path.
func certsServiceAccount(ctx context.Context, t *testing.T, ns, configName, path string) string {
	t.Helper()
	cp := controlPlane
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "deploy", "base", "02-rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.Role
	var clusterRole rbacv1.ClusterRole
	for doc := range strings.SplitSeq(string(raw), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("deploy/base/02-rbac.yaml: %v", err)
		}
		switch meta.Kind {
		case "Role":
			err = yaml.UnmarshalStrict([]byte(doc), &role)
		case "ClusterRole":
			err = yaml.UnmarshalStrict([]byte(doc), &clusterRole)
		}
		if err != nil {
			t.Fatalf("deploy/base/02-rbac.yaml: %s: %v", meta.Kind, err)
		}
	}
	if len(role.Rules) == 0 || len(clusterRole.Rules) == 0 {
		t.Fatal("deploy/base/02-rbac.yaml: want a Role and a ClusterRole with rules")
	}
	// The shipped ClusterRole names the shipped configuration; this test's
	// has another name (the Role's Secret name is the default, unchanged).
	for i, r := range clusterRole.Rules {
		for j, n := range r.ResourceNames {
			if n == "secure-defaults" {
				clusterRole.Rules[i].ResourceNames[j] = configName
			}
		}
	}
	role.ObjectMeta = metav1.ObjectMeta{Name: "secure-defaults-certificates", Namespace: ns}
	clusterRole.ObjectMeta = metav1.ObjectMeta{Name: configName}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "secure-defaults", Namespace: ns}}

	rbac := cp.Client.RbacV1()
	sa, err := cp.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "secure-defaults"}}, metav1.CreateOptions{})
	if err == nil {
		_, err = rbac.Roles(ns).Create(ctx, &role, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = rbac.RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: role.ObjectMeta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   subject,
		}, metav1.CreateOptions{})
	}
	if err == nil {
		_, err = rbac.ClusterRoles().Create(ctx, &clusterRole, metav1.CreateOptions{})
	}
	if err == nil {
		t.Cleanup(func() { _ = rbac.ClusterRoles().Delete(context.Background(), configName, metav1.DeleteOptions{}) })
		_, err = rbac.ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
			ObjectMeta: clusterRole.ObjectMeta,
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: clusterRole.Name},
			Subjects:   subject,
		}, metav1.CreateOptions{})
	}
	if err == nil {
		t.Cleanup(func() {
			_ = rbac.ClusterRoleBindings().Delete(context.Background(), configName, metav1.DeleteOptions{})
		})
	}
	if err != nil {
		t.Fatalf("ServiceAccount and RBAC of the built-in mode: %v", err)
	}
	tok, err := cp.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa.Name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token for ServiceAccount %s/%s: %v", ns, sa.Name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: cp.Config.Host, CertificateAuthorityData: cp.CAPEM}
	cfg.AuthInfos["webhook"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: "webhook"}
	cfg.CurrentContext = "e2e"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func certsParse(pemBytes []byte) ([]*x509.Certificate, error) {
	certs, err := pki.ParseCerts(pemBytes)
	if err == nil && len(certs) == 0 {
		err = errors.New("no PEM certificate")
	}
	return certs, err
}

func certsVerify(cert *x509.Certificate, bundle []byte, name string) error {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(bundle) {
		return errors.New("bundle holds no certificate")
	}
	_, err := cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}

// certsLoad sends AdmissionReviews to the webhook with the trust the webhook
// configuration publishes, and records every certificate it was served.
type certsLoad struct {
	ns, serverName, url string
	pod                 *corev1.Pod
	wantPatch           bool

	pool          atomic.Pointer[x509.CertPool]
	ok, failed    atomic.Int64
	uid           atomic.Int64
	mu            sync.Mutex
	errs          []string
	served        []certsServed // in order of first sight
	bundleChanges []certsBundle
}

// certsBundle is a caBundle as first read.
type certsBundle struct {
	at  time.Time
	cas []string
}

// certsServed is a serving certificate the webhook presented.
type certsServed struct {
	cert    *x509.Certificate
	first   time.Time
	reviews int
}

func newCertsLoad(ns, serverName, url string) *certsLoad {
	pod := plainPod(ns)
	pod.Name = "certs-probe"
	// The webhook must answer with a patch whenever the rules change the pod.
	wantPatch := defaults.Apply(pod.DeepCopy(), defaults.Options{}).Changed()
	return &certsLoad{ns: ns, serverName: serverName, url: url, pod: pod, wantPatch: wantPatch}
}

// watchBundle keeps pool at the caBundle of the configuration's first entry,
// read every 100ms.
func (l *certsLoad) watchBundle(ctx context.Context, configs interface {
	Get(context.Context, string, metav1.GetOptions) (*admissionregistrationv1.MutatingWebhookConfiguration, error)
}, name string) {
	var last []byte
	for ctx.Err() == nil {
		cfg, err := configs.Get(ctx, name, metav1.GetOptions{})
		if err == nil && !bytes.Equal(cfg.Webhooks[0].ClientConfig.CABundle, last) {
			last = cfg.Webhooks[0].ClientConfig.CABundle
			pool := x509.NewCertPool()
			if pool.AppendCertsFromPEM(last) {
				l.pool.Store(pool)
			}
			certs, _ := certsParse(last)
			var names []string
			for _, c := range certs {
				names = append(names, c.Subject.CommonName)
			}
			l.mu.Lock()
			l.bundleChanges = append(l.bundleChanges, certsBundle{at: time.Now(), cas: names})
			l.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// send reviews until ctx is done. With keepAlive it reuses its connection
// until the trust bundle changes; otherwise every review is a new handshake.
func (l *certsLoad) send(ctx context.Context, keepAlive bool) {
	var (
		client   *http.Client
		clientOf *x509.CertPool
	)
	for ctx.Err() == nil {
		pool := l.pool.Load()
		if client == nil || pool != clientOf || !keepAlive {
			if client != nil {
				client.CloseIdleConnections()
			}
			client = &http.Client{
				Timeout: 10 * time.Second,
				Transport: &http.Transport{
					TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: l.serverName, MinVersion: tls.VersionTLS12},
					DisableKeepAlives: !keepAlive,
				},
			}
			clientOf = pool
		}
		served, err := l.review(ctx, client)
		if ctx.Err() != nil {
			break // cancelled mid-request: not the webhook's failure
		}
		l.record(served, err)
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
	if client != nil {
		client.CloseIdleConnections()
	}
}

// review sends one pod CREATE review and checks the answer.
func (l *certsLoad) review(ctx context.Context, client *http.Client) (*x509.Certificate, error) {
	raw, err := json.Marshal(l.pod)
	if err != nil {
		return nil, err
	}
	uid := types.UID(fmt.Sprintf("certs-%d", l.uid.Add(1)))
	body, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       uid,
			Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
			Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
			Namespace: l.ns,
			Name:      l.pod.Name,
			Operation: admissionv1.Create,
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.url+"?timeout=5s", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var served *x509.Certificate
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		served = resp.TLS.PeerCertificates[0]
	}
	if resp.StatusCode != http.StatusOK {
		return served, fmt.Errorf("%s: %s", resp.Status, out)
	}
	var answer admissionv1.AdmissionReview
	if err := json.Unmarshal(out, &answer); err != nil {
		return served, fmt.Errorf("decoding the answer: %w", err)
	}
	switch r := answer.Response; {
	case r == nil || r.UID != uid:
		return served, fmt.Errorf("no response for uid %s: %s", uid, out)
	case !r.Allowed:
		return served, fmt.Errorf("review denied: %s", out)
	case l.wantPatch && len(r.Patch) == 0:
		return served, fmt.Errorf("no patch, though defaults.Apply changes the pod: %s", out)
	}
	return served, nil
}

func (l *certsLoad) record(served *x509.Certificate, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.failed.Add(1)
		if len(l.errs) < 5 {
			l.errs = append(l.errs, time.Now().Format("15:04:05.000")+" "+err.Error())
		}
		return
	}
	l.ok.Add(1)
	if served == nil {
		return
	}
	for i := range l.served {
		if l.served[i].cert.Equal(served) {
			l.served[i].reviews++
			return
		}
	}
	l.served = append(l.served, certsServed{cert: served, first: time.Now(), reviews: 1})
}

func (l *certsLoad) errors() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errs...)
}

// servedBy counts the distinct serving certificates signed by ca and by any
// other CA.
func (l *certsLoad) servedBy(ca *x509.Certificate) (byCA, byOthers int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.served {
		if s.cert.CheckSignatureFrom(ca) == nil {
			byCA++
		} else {
			byOthers++
		}
	}
	return byCA, byOthers
}

// rotated reports whether both rotations have been seen.
func (l *certsLoad) rotated(firstCA *x509.Certificate) bool {
	first, others := l.servedBy(firstCA)
	return first >= 2 && others >= 1
}

// report logs the certificates served and the bundle changes, with times
// relative to the webhook's start.
func (l *certsLoad) report(t *testing.T, start time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d reviews succeeded, %d failed", l.ok.Load(), l.failed.Load())
	for _, s := range l.served {
		t.Logf("  serving certificate serial %s, issuer %s, valid %s..%s, first served at +%s, %d reviews",
			s.cert.SerialNumber.Text(16), s.cert.Issuer.CommonName,
			s.cert.NotBefore.Sub(start).Round(time.Second), s.cert.NotAfter.Sub(start).Round(time.Second),
			s.first.Sub(start).Round(100*time.Millisecond), s.reviews)
	}
	for _, b := range l.bundleChanges {
		t.Logf("  caBundle read at +%s: [%s]", b.at.Sub(start).Round(100*time.Millisecond), strings.Join(b.cas, ", "))
	}
}
