package cli

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/secure-defaults/secure-defaults/pkg/admission"
	"github.com/secure-defaults/secure-defaults/pkg/config"
	"github.com/secure-defaults/secure-defaults/pkg/imagelookup"
)

// imageLookups gives serve's handler the image lookup of the configuration
// in use. The resolver, and so its cache, is kept across reloads that leave
// the imageLookup section as it was, and replaced when the section changes.
type imageLookups struct {
	current    func() *config.Configuration
	observer   imagelookup.Observer
	log        *slog.Logger
	kubeconfig string

	mu   sync.Mutex
	last atomic.Pointer[imageLookupState]

	clientOnce sync.Once
	secrets    imagelookup.SecretGetter
}

type imageLookupState struct {
	from *config.Configuration
	cfg  imagelookup.Config
	il   admission.ImageLookup
}

// get implements the source of admission.Handler.SetImageLookup.
func (l *imageLookups) get() admission.ImageLookup {
	c := l.current()
	if s := l.last.Load(); s != nil && s.from == c {
		return s.il
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	want := c.ImageLookupConfig()
	s := l.last.Load()
	if s != nil && reflect.DeepEqual(s.cfg, want) {
		l.last.Store(&imageLookupState{from: c, cfg: want, il: s.il})
		return s.il
	}
	next := &imageLookupState{from: c, cfg: want}
	if want.Enabled {
		r, err := imagelookup.New(want, imagelookup.WithObserver(l.observer))
		if err != nil {
			// Validated with the file; kept for safety: lookup stays off.
			l.log.Error("image lookup is off: its configuration does not hold", slog.String("error", err.Error()))
		} else {
			next.il.Resolver = r
			if want.PullSecrets {
				next.il.Secrets = l.pullSecrets()
			}
		}
		l.log.Info("image lookup on", slog.Duration("timeout", want.Timeout), slog.Any("platforms", want.Platforms),
			slog.Bool("pullSecrets", want.PullSecrets), slog.Bool("dockerConfig", want.DockerConfig != ""))
	}
	l.last.Store(next)
	return next.il
}

// pullSecrets returns a SecretGetter of the API server, made once; without
// API access (no in-cluster configuration, no --kubeconfig) it is nil and
// lookups go on with the other credentials.
func (l *imageLookups) pullSecrets() imagelookup.SecretGetter {
	l.clientOnce.Do(func() {
		var cfg *rest.Config
		var err error
		if l.kubeconfig != "" {
			cfg, err = clientcmd.BuildConfigFromFlags("", l.kubeconfig)
		} else {
			cfg, err = rest.InClusterConfig()
		}
		if err == nil {
			var client *kubernetes.Clientset
			if client, err = kubernetes.NewForConfig(cfg); err == nil {
				l.secrets = imagelookup.ClientSecrets(client)
				return
			}
		}
		l.log.Error("imageLookup.pullSecrets: no API access, so pods' pull secrets are not read", slog.String("error", err.Error()))
	})
	return l.secrets
}

// localImageFacts looks up images for mutate, with the local docker
// credentials; nil when the configuration leaves lookup off.
func localImageFacts(c *config.Configuration, keychain imagelookup.Option) (func(*corev1.Pod) imagelookup.PodFacts, error) {
	r, err := imageResolver(c, keychain)
	if r == nil || err != nil {
		return nil, err
	}
	return func(pod *corev1.Pod) imagelookup.PodFacts {
		return r.ForPod(context.Background(), pod, nil, nil)
	}, nil
}

// imageResolver returns the resolver the configuration asks for, with
// keychain; nil when it leaves lookup off.
func imageResolver(c *config.Configuration, keychain imagelookup.Option) (*imagelookup.Resolver, error) {
	cfg := c.ImageLookupConfig()
	if !cfg.Enabled {
		return nil, nil
	}
	return imagelookup.New(cfg, keychain)
}
