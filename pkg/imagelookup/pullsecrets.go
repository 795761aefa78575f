package imagelookup

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// PullSecrets returns the credentials of a pod's imagePullSecrets, read from
// the API server only when a registry asks for credentials (a cache hit
// reads no Secret), and a key that names them for Resolver.Lookup.
//
// The ServiceAccount's imagePullSecrets need no reading of their own: the
// ServiceAccount admission plugin copies them into the pod before any
// webhook sees it. Secrets that are missing, unreadable or of another type
// are skipped, as the kubelet does; the lookup then goes on with the other
// credentials.
func PullSecrets(get SecretGetter, pod *corev1.Pod) (authn.Keychain, string) {
	if len(pod.Spec.ImagePullSecrets) == 0 {
		return nil, ""
	}
	names := make([]string, 0, len(pod.Spec.ImagePullSecrets))
	for _, s := range pod.Spec.ImagePullSecrets {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return &secretKeychain{get: get, namespace: pod.Namespace, names: names},
		pod.Namespace + "/" + strings.Join(names, ",")
}

// SecretGetter reads one Secret; serve passes the API client's.
type SecretGetter func(ctx context.Context, namespace, name string) (*corev1.Secret, error)

// ClientSecrets is the SecretGetter of a Kubernetes client.
func ClientSecrets(client kubernetes.Interface) SecretGetter {
	return func(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
		return client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	}
}

// secretKeychain resolves credentials from Secrets of one namespace.
type secretKeychain struct {
	get       SecretGetter
	namespace string
	names     []string
}

// Resolve implements authn.Keychain.
func (k *secretKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

// ResolveContext implements authn.ContextKeychain: the Secrets are read
// within the lookup's deadline.
func (k *secretKeychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	for _, n := range k.names {
		s, err := k.get(ctx, k.namespace, n)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("reading pull secret %s/%s: %w", k.namespace, n, err)
			}
			continue
		}
		var data []byte
		switch s.Type {
		case corev1.SecretTypeDockerConfigJson:
			data = s.Data[corev1.DockerConfigJsonKey]
		case corev1.SecretTypeDockercfg:
			data = s.Data[corev1.DockerConfigKey]
		default:
			continue
		}
		dc, err := ParseDockerConfig(data)
		if err != nil {
			continue
		}
		a, err := dc.Resolve(r)
		if err != nil {
			return nil, err
		}
		if a != authn.Anonymous {
			return a, nil
		}
	}
	return authn.Anonymous, nil
}
