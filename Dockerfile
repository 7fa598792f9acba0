# Container image of capi-loadgen, for running it inside the cluster under test (the Indexed
# Job in deploy/indexed-job.yaml: one pod per shard, each with the ServiceAccount of
# deploy/rbac.yaml). Inside a pod only kube targets make sense: the image has no etcd or
# kube-apiserver for the local environment.
#   docker build -t capi-loadgen:dev .
#   kind load docker-image capi-loadgen:dev --name capi-loadgen
#   docker run --rm capi-loadgen:dev run profiles/quickstart.yaml --dry-run

#
# Base images are NOT pinned by digest yet: this file was written on a machine that reaches no
# container registry, and a digest must never be typed in by hand. The release workflow
# refuses to publish an image until they are pinned. A maintainer with registry access pins
# them, from the repository root:
#   go install github.com/google/go-containerregistry/cmd/crane@latest   # or have `docker buildx`
#   scripts/pin-images.sh            # resolves each FROM tag, rewrites the line to <tag>@sha256:<index digest>
#   git diff Dockerfile              # exactly the two FROM lines change
#   scripts/pin-images.sh --check    # what the release workflow runs; exit 0 when pinned
#   git commit -m "Dockerfile: pin base images by digest" Dockerfile
# To move to newer base images later, run scripts/pin-images.sh again: it re-resolves the tags
# (the digest is of the multi-platform index, so amd64 and arm64 builds both stay pinned).

# --- build: protoc is needed by etcd-client's build script ----------------------------------
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, in their own layer: it is rebuilt only when Cargo.toml or Cargo.lock
# change, not on every source edit. Empty targets stand in for the crate's own code.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && cargo build --release --locked \
 && rm -rf src target/release/deps/capi_loadgen-* target/release/deps/libcapi_loadgen-* \
           target/release/capi-loadgen* target/release/.fingerprint/capi-loadgen-*
COPY src/ src/
# The breakpoints suite compiles its profiles in (include_str!).
COPY profiles/ profiles/
RUN cargo build --release --locked \
 && install -m 0755 target/release/capi-loadgen /capi-loadgen

# --- runtime: glibc + libgcc_s (all the binary links; TLS is rustls), no shell, non-root ----
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /capi-loadgen /usr/local/bin/capi-loadgen
# The shipped profiles, relative to the working directory like in the repository. The Job
# mounts its own profile at /profiles instead.
COPY profiles/ /home/nonroot/profiles/
WORKDIR /home/nonroot
# distroless's nonroot user (uid/gid 65532); results/ is written under the working directory.
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/capi-loadgen"]
CMD ["--help"]
