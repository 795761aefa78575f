package imagelookup

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func TestDockerConfigResolve(t *testing.T) {
	config := `{"auths": {
		"https://index.docker.io/v1/": {"auth": "aHViOmh1YnB3"},
		"registry.example": {"username": "host", "password": "hostpw"},
		"registry.example/team": {"username": "team", "password": "teampw"},
		"*.mirror.example": {"username": "wild", "password": "wildpw"},
		"https://ports.example:5000/": {"username": "port", "password": "portpw"}
	}}`
	dc, err := ParseDockerConfig([]byte(config))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ image, user string }{
		{"nginx", "hub"},
		{"docker.io/library/nginx", "hub"},
		{"registry.example/app", "host"},
		{"registry.example/team/app", "team"},
		{"registry.example/teams/app", "host"},
		{"eu.mirror.example/app", "wild"},
		{"a.b.mirror.example/app", ""},
		{"ports.example:5000/app", "port"},
		{"ports.example/app", ""},
		{"other.example/app", ""},
	}
	for _, tc := range cases {
		t.Run(tc.image, func(t *testing.T) {
			ref, err := name.ParseReference(tc.image)
			if err != nil {
				t.Fatal(err)
			}
			a, err := dc.Resolve(ref.Context())
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := a.Authorization()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Username != tc.user {
				t.Errorf("user %q, want %q", cfg.Username, tc.user)
			}
			if tc.user == "" && a != authn.Anonymous {
				t.Errorf("got %T, want anonymous", a)
			}
		})
	}
}

func TestParseDockerConfigFormats(t *testing.T) {
	cases := []struct {
		name, data string
		err        bool
	}{
		{name: "config.json", data: `{"auths":{"r.example":{"auth":"dTpw"}}}`},
		{name: "legacy .dockercfg", data: `{"r.example":{"auth":"dTpw","email":"x@y"}}`},
		{name: "not JSON", data: `user:s3cretpassword`, err: true},
		{name: "wrong type", data: `{"auths":{"r.example":{"auth":42}}}`, err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dc, err := ParseDockerConfig([]byte(tc.data))
			if tc.err {
				if err == nil {
					t.Fatal("no error")
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "42") {
					t.Errorf("the error quotes the input: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ref, _ := name.ParseReference("r.example/app")
			a, _ := dc.Resolve(ref.Context())
			cfg, _ := a.Authorization()
			if cfg.Username != "u" || cfg.Password != "p" {
				t.Errorf("got %q/%q, want u/p", cfg.Username, cfg.Password)
			}
		})
	}
}

func TestPullSecrets(t *testing.T) {
	secrets := map[string]*corev1.Secret{
		"team-a/opaque": {Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"x": []byte("y")}},
		"team-a/broken": {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{")}},
		"team-a/other":  {Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"other.example":{"auth":"bzpw"}}}`)}},
		"team-a/legacy": {Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte(`{"r.example":{"auth":"dTpw"}}`)}},
	}
	var asked []string
	get := func(_ context.Context, ns, n string) (*corev1.Secret, error) {
		asked = append(asked, ns+"/"+n)
		if s, ok := secrets[ns+"/"+n]; ok {
			return s, nil
		}
		return nil, errors.New("not found")
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a"}, Spec: corev1.PodSpec{ImagePullSecrets: []corev1.LocalObjectReference{
		{Name: "missing"}, {Name: "opaque"}, {Name: "broken"}, {Name: "other"}, {Name: "legacy"},
	}}}
	kc, key := PullSecrets(get, pod)
	if key != "team-a/missing,opaque,broken,other,legacy" {
		t.Errorf("key %q", key)
	}
	if len(asked) != 0 {
		t.Errorf("secrets read before any registry asked: %v", asked)
	}
	ref, _ := name.ParseReference("r.example/app")
	a, err := kc.Resolve(ref.Context())
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := a.Authorization()
	if cfg.Username != "u" {
		t.Errorf("got user %q, want u from the legacy secret after skipping the unusable ones", cfg.Username)
	}
	if kc, _ := PullSecrets(get, &corev1.Pod{}); kc != nil {
		t.Error("a pod without pull secrets got a keychain")
	}
}
