# syntax=docker/dockerfile:1
#
# Multi-stage build of the secure-defaults webhook image: one static binary on
# an empty (scratch) base, so there is no shell, package manager or libc at run
# time, running as the numeric non-root user 65532. The binary needs nothing
# else: in the built-in certificate mode it reaches the API server with the
# pod's service-account CA, and it writes no files.
# Build from the repository root:
#
#   docker build --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse --short HEAD) -t secure-defaults:0.1.0 .

ARG GO_VERSION=1.26.8

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
ARG COMMIT=unknown
WORKDIR /src
# Dependencies first, so source edits reuse the module download layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY cmd/ cmd/
COPY pkg/ pkg/
COPY internal/ internal/
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} GOCACHE=/cache/go-build \
    go build -trimpath \
      -ldflags "-s -w -X github.com/secure-defaults/secure-defaults/pkg/version.Version=${VERSION} -X github.com/secure-defaults/secure-defaults/pkg/version.Commit=${COMMIT}" \
      -o /out/secure-defaults ./cmd/secure-defaults

FROM scratch
COPY --from=build /out/secure-defaults /secure-defaults
# Numeric, so the kubelet can verify runAsNonRoot without an /etc/passwd; the
# same UID as the "nonroot" user of distroless images.
USER 65532:65532
EXPOSE 10250 8080
ENTRYPOINT ["/secure-defaults"]
CMD ["serve"]
