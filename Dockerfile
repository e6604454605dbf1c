# Build stage: compiles both binaries in release mode, without debug info and stripped.
FROM rust:1.89-bookworm AS build
WORKDIR /src
ENV CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true
# Dependencies first, against stub sources, so that a change to recur's own code reuses this layer.
COPY Cargo.toml Cargo.lock ./
COPY api/Cargo.toml api/
COPY worker/Cargo.toml worker/
COPY common/Cargo.toml common/
COPY bench/Cargo.toml bench/
COPY tests/Cargo.toml tests/
RUN for file in api/src/lib.rs worker/src/lib.rs common/src/lib.rs; do mkdir -p "${file%/*}" && : > "$file"; done \
 && for file in api/src/main.rs worker/src/main.rs bench/src/main.rs tests/e2e/main.rs tests/chaos/main.rs; do \
      mkdir -p "${file%/*}" && echo 'fn main() {}' > "$file"; done \
 && cargo build --release --locked -p recur-api -p recur-worker \
 && rm -rf api/src worker/src common/src bench/src tests/e2e tests/chaos
# Then recur itself: touched, so cargo rebuilds it rather than trusting the stubs' timestamps.
COPY . .
RUN touch api/src/lib.rs api/src/main.rs worker/src/lib.rs worker/src/main.rs common/src/lib.rs \
 && cargo build --release --locked -p recur-api -p recur-worker

# Run stage: a slim image with the two binaries only.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/recur-api /src/target/release/recur-worker /usr/local/bin/
USER nobody
CMD ["recur-worker"]
