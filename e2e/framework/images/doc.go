// Package images builds container images for the end-to-end tests without
// Docker, and serves them from a registry on loopback that containerd pulls
// from over plain HTTP.
//
// Images are made with go-containerregistry from static Go binaries
// (CGO_ENABLED=0): one layer with the binary, a world-writable /tmp and,
// where the image names a user, an /etc/passwd. Registry runs
// go-containerregistry's pkg/registry in the test process on 127.0.0.1, and
// containerd pulls from it over plain HTTP: pass its Host in
// framework.NodeOptions.PlainHTTPRegistries, which writes a hosts.toml for it
// under containerd's registry.config_path.
//
// The test images (PushTestImages) run the probe (./probe), which prints one
// line, "probe: {json}", with what the container sees from inside — see
// Report and ParseReport — and then waits for SIGTERM. They differ only in the
// image config's User:
//
//	NonRoot    "65532"  a numeric non-root user
//	RootEmpty  ""       no user: the runtime runs it as root
//	RootZero   "0"      root, said explicitly
//	Named      "app"    a name, resolved by the runtime through the image's
//	                    /etc/passwd (app is UID 1000, GID 1000)
//
// Pause is the sandbox image for containerd (./pause: waits for SIGTERM, user
// 65535 like the upstream pause image). Project (the secure-defaults binary)
// mirrors the repository's Dockerfile: the static binary alone at
// /secure-defaults, USER 65532:65532, ENTRYPOINT /secure-defaults, CMD serve,
// no shell.
package images
