# Multi-stage build: compile in the official Rust image, run from a small Debian runtime as a
# non-root user. `docker run -p 8000:8000 chronograph demo --listen 0.0.0.0:8000` starts demo mode.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY schema ./schema
COPY benches ./benches
# The playground's vendored GraphiQL, and the README whose first query it opens with.
COPY assets ./assets
COPY README.md ./
RUN cargo build --release --locked && strip target/release/chronograph

FROM debian:bookworm-slim AS runtime
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home chronograph
COPY --from=build /src/target/release/chronograph /usr/local/bin/chronograph
USER 10001
EXPOSE 8000
ENTRYPOINT ["chronograph"]
CMD ["serve", "--config", "/etc/chronograph/chronograph.toml"]
