package imagelookup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// DockerConfig is the credentials of a docker config file
// (~/.docker/config.json, a kubernetes.io/dockerconfigjson Secret) or of a
// legacy .dockercfg (a kubernetes.io/dockercfg Secret). It is an
// authn.Keychain. Credential helpers are not run: a webhook runs no
// programs named by a file.
type DockerConfig struct {
	entries []authEntry
}

// authEntry is one credential: the host (with port) it is for, an optional
// repository path prefix, and the credential itself.
type authEntry struct {
	host, prefix string
	auth         authn.AuthConfig
}

// ParseDockerConfig parses the JSON of a docker config file
// ({"auths": {...}}) or of a legacy .dockercfg (the auths map alone). The
// error never quotes the input: it holds secrets.
func ParseDockerConfig(data []byte) (*DockerConfig, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("not a docker config (expected a JSON object with \"auths\"): %s", safeJSONError(err))
	}
	var auths map[string]authn.AuthConfig
	var err error
	if raw, ok := top["auths"]; ok {
		err = json.Unmarshal(raw, &auths)
	} else {
		// The legacy format is the map of credentials itself.
		err = json.Unmarshal(data, &auths)
	}
	if err != nil {
		return nil, fmt.Errorf("not a docker config: %s", safeJSONError(err))
	}
	dc := &DockerConfig{}
	for key, auth := range auths {
		host, prefix := splitAuthKey(key)
		if host == "" {
			continue
		}
		dc.entries = append(dc.entries, authEntry{host: host, prefix: prefix, auth: auth})
	}
	return dc, nil
}

// ReadDockerConfig reads and parses the docker config file at file.
func ReadDockerConfig(file string) (*DockerConfig, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials: %w", err)
	}
	dc, err := ParseDockerConfig(data)
	if err != nil {
		return nil, fmt.Errorf("reading registry credentials from %s: %w", file, err)
	}
	return dc, nil
}

// safeJSONError keeps a decoding error's kind without any input it quotes.
func safeJSONError(err error) string {
	switch err.(type) {
	case *json.SyntaxError:
		return "invalid JSON"
	case *json.UnmarshalTypeError:
		return "a field has the wrong type"
	}
	return "invalid content"
}

// dockerHubHosts are the spellings of Docker Hub in docker config keys;
// go-containerregistry calls it index.docker.io.
var dockerHubHosts = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// splitAuthKey turns a docker config key ("https://index.docker.io/v1/",
// "registry.example:5000", "registry.example/team") into a host and a
// repository path prefix, as the kubelet reads them.
func splitAuthKey(key string) (host, prefix string) {
	key = strings.TrimSpace(key)
	if strings.Contains(key, "://") {
		if u, err := url.Parse(key); err == nil {
			key = u.Host + u.Path
		}
	}
	host, prefix, _ = strings.Cut(key, "/")
	host = strings.ToLower(host)
	if dockerHubHosts[host] {
		// "https://index.docker.io/v1/" is Docker Hub as a whole.
		return name.DefaultRegistry, ""
	}
	return host, strings.Trim(path.Clean("/"+prefix), "/")
}

// Resolve implements authn.Keychain: the credential of the most specific
// entry that matches the repository (longest path prefix; a host may use a
// "*." wildcard for one subdomain level), or anonymous.
func (dc *DockerConfig) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if dc == nil {
		return authn.Anonymous, nil
	}
	reg := strings.ToLower(r.RegistryStr())
	if dockerHubHosts[reg] {
		reg = name.DefaultRegistry
	}
	repo := ""
	if rr, ok := r.(name.Repository); ok {
		repo = rr.RepositoryStr()
	}
	best, bestLen := -1, -1
	for i, e := range dc.entries {
		if !hostMatches(e.host, reg) {
			continue
		}
		if e.prefix != "" && repo != e.prefix && !strings.HasPrefix(repo, e.prefix+"/") {
			continue
		}
		if l := len(e.prefix); l > bestLen || (l == bestLen && !strings.Contains(e.host, "*")) {
			best, bestLen = i, l
		}
	}
	if best < 0 {
		return authn.Anonymous, nil
	}
	return authn.FromConfig(dc.entries[best].auth), nil
}

// hostMatches reports whether pattern (a host, optionally with a leading
// "*." that stands for one label) matches host. Ports must be equal.
func hostMatches(pattern, host string) bool {
	if pattern == host {
		return true
	}
	if rest, ok := strings.CutPrefix(pattern, "*."); ok {
		_, after, found := strings.Cut(host, ".")
		return found && after == rest
	}
	return false
}

// fileKeychain reads a docker config file at each use, so credentials
// rotated in a mounted Secret are picked up without a restart. A file that
// is missing or malformed gives anonymous access; the error is kept for the
// caller to log (it never holds a credential).
type fileKeychain struct {
	path string
}

// Resolve implements authn.Keychain.
func (k fileKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	dc, err := ReadDockerConfig(k.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return authn.Anonymous, nil
		}
		return nil, err
	}
	return dc.Resolve(r)
}
