# Klaxon's container image: `docker build -t klaxon .`, or `docker compose up --build`
# (docker-compose.yml). The binary is the entrypoint: `docker run klaxon check -c ...`.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# `klaxon --version` names the git revision; .git is not copied in, so pass it:
# `docker build --build-arg KLAXON_GIT_REV=$(git rev-parse --short HEAD) .` (build.rs).
ARG KLAXON_GIT_REV=unknown
# The cache mounts keep the crates and the build directory between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -m 0755 target/release/klaxon /usr/local/bin/klaxon

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid, so files in volumes keep their owner across rebuilds. The directories are
# made here so named volumes mounted on them start with this owner.
RUN groupadd --system --gid 10001 klaxon \
    && useradd --system --uid 10001 --gid klaxon --home-dir /var/lib/klaxon \
       --shell /usr/sbin/nologin klaxon \
    && install -d -o klaxon -g klaxon -m 0700 /var/lib/klaxon \
    && install -d -o klaxon -g klaxon -m 0755 /etc/klaxon /var/log/orders
COPY --from=build /usr/local/bin/klaxon /usr/local/bin/klaxon
USER klaxon
WORKDIR /var/lib/klaxon
# The `server:` listener: /metrics, the API and the console.
EXPOSE 9095
ENTRYPOINT ["klaxon"]
CMD ["run", "-c", "/etc/klaxon/klaxon.yaml"]
