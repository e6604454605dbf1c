# Build stage: compiles both binaries in release mode.
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p recur-api -p recur-worker

# Run stage: a slim image with the two binaries only.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/recur-api /src/target/release/recur-worker /usr/local/bin/
USER nobody
CMD ["recur-worker"]
