# syntax=docker/dockerfile:1
#
# authsvc as a container: a static binary on a distroless base, run as a
# non-root user, with its SQLite database on a volume.
#
#   docker build --build-arg VERSION="$(git describe --tags --always)" -t authsvc .
#
# No secret is ever a build argument: the ServerSecret, admin keys and session
# key are given at run time, as files (see "Docker" in README.md).
# cmd/authsvc/dockerfile_test.go checks these rules and runs the go build below.

# Build on the machine's own platform and cross-compile, which pure Go (and
# the pure-Go SQLite driver) allows; the Go version is go.mod's.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=devel
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -ldflags "-s -w -X main.buildVersion=${VERSION}" -o /out/authsvc ./cmd/authsvc
# The data directory, created here because the runtime image has no shell.
RUN mkdir -p /out/data

# Run: no shell, no package manager, nothing but the binary, CA certificates
# and time zone data.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/authsvc /authsvc
# Owned by the runtime user, so a new named volume starts out writable.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV AUTHSVC_ADDR=:8080 \
    AUTHSVC_DB=/data/authsvc.db
VOLUME /data
EXPOSE 8080
# The binary probes its own /healthz (the port of AUTHSVC_ADDR), since the
# image has no curl; it waits 3 s for the answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/authsvc", "healthcheck"]
ENTRYPOINT ["/authsvc", "serve"]
