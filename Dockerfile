# syntax=docker/dockerfile:1
# The Sluice image: one binary, `sluice`, that runs a pipeline stage per
# subcommand (see deploy/helm/sluice for how Kubernetes runs it).
#
#   docker build -t sluice:0.1.0 .
#   docker build --build-arg WITH_SIMULATORS=1 -t sluice:0.1.0-sim .   # adds smsc-sim, esme-load
#   docker run --rm sluice:0.1.0 gateway --kafka kafka:9092 --pg "host=pg dbname=sluice user=sluice" \
#       --http 0.0.0.0:8080 --smpp 0.0.0.0:2775
#
# The stages listen on 127.0.0.1 unless told otherwise: pass --http, --smpp and
# --smpp-tls with 0.0.0.0 (the Helm chart does).
#
# tests/deploy/check_dockerfile.py checks that the runtime packages below exist
# in Debian 12 and cover every shared library the binary loads: keep the two
# lists in their own `apt-get install` lines.

ARG DEBIAN_RELEASE=bookworm

# ---- build ---------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE} AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config \
      librdkafka-dev libboost1.81-dev libsmpp34-dev libpqxx-dev prometheus-cpp-dev \
      libssl-dev libsodium-dev protobuf-compiler libprotobuf-dev nlohmann-json3-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY . .
# 1: also build and ship the simulators (smsc-sim, esme-load).
ARG WITH_SIMULATORS=0
# 1: drop DWARF debug info from the shipped binaries (the symbol table stays,
# so backtraces still name functions); 0: ship them as built (RelWithDebInfo).
ARG STRIP_DEBUG=1
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_TESTS=OFF \
 && cmake --build build --target sluice \
 && if [ "$WITH_SIMULATORS" = 1 ]; then cmake --build build --target smsc-sim esme-load; fi \
 && mkdir -p /out \
 && cp build/app/sluice /out/ \
 && if [ "$WITH_SIMULATORS" = 1 ]; then cp build/simulators/smsc-sim build/simulators/esme-load /out/; fi \
 && if [ "$STRIP_DEBUG" = 1 ]; then strip --strip-debug /out/*; fi \
 && /out/sluice version

# ---- runtime -------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# Only the shared libraries the binaries load (and CA certificates for TLS to
# Kafka and PostgreSQL); their own dependencies (libpq5, liblz4-1, libzstd1,
# libsasl2-2, ...) come with them.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates librdkafka1 libpqxx-6.4 libprotobuf32 libprometheus-cpp-core1.0 libsodium23 libssl3 libstdc++6 \
 && rm -rf /var/lib/apt/lists/*

# A fixed, non-root user (the chart's securityContext runs as 10001:10001).
RUN groupadd --system --gid 10001 sluice \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sluice --no-create-home \
      --shell /usr/sbin/nologin sluice \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/sluice

COPY --from=build /out/ /usr/local/bin/

# --state-dir default; in Kubernetes an emptyDir is mounted here (the root
# filesystem is read-only).
ENV SLUICE_STATE_DIR=/var/lib/sluice
WORKDIR /var/lib/sluice
USER 10001:10001
# 2775 SMPP, 3550 SMPP over TLS, 8080 /metrics /livez /readyz
EXPOSE 2775 3550 8080
ENTRYPOINT ["/usr/local/bin/sluice"]
CMD ["help"]
