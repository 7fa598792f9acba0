# Container image of capi-loadgen, for running it inside the cluster under test (the Indexed
# Job in deploy/indexed-job.yaml: one pod per shard, each with the ServiceAccount of
# deploy/rbac.yaml). Inside a pod only kube targets make sense: the image has no etcd or
# kube-apiserver for the local environment.
#   docker build -t capi-loadgen:dev .
#   kind load docker-image capi-loadgen:dev --name capi-loadgen
#   docker run --rm capi-loadgen:dev run profiles/quickstart.yaml --dry-run

# --- build: protoc is needed by etcd-client's build script ----------------------------------
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler libprotobuf-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
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
