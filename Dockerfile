# dlctl itself, built in Debian 12 and shipped in a slim runtime image (no Docker engine runs on the project's
# machines: tests/cli/test_dockerfile.sh checks this file against the Makefile's packages and the binary's libraries).
#   docker build -t dlctl .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" -w /work dlctl train configs/housing.yaml
# (--user: as you, so that runs/ can be written into your checkout; .dockerignore keeps build*/ out of the context)
# CUDA variant: a Debian 12 build base with the CUDA toolkit (nvcc on PATH) and a runtime base with its libraries:
#   docker build --build-arg DLCTL_CUDA=ON --build-arg BUILD_BASE=<debian12+cuda devel> \
#                --build-arg RUNTIME_BASE=<debian12+cuda runtime> --build-arg CUDA_ARCH=90 -t dlctl:cuda .
ARG BUILD_BASE=debian:12
ARG RUNTIME_BASE=debian:12-slim

FROM ${BUILD_BASE} AS build
ARG DLCTL_CUDA=OFF
ARG CUDA_ARCH=90
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates cmake make g++ pkg-config git \
      libcli11-dev libyaml-cpp-dev nlohmann-json3-dev libeigen3-dev libhdf5-dev libfmt-dev doctest-dev \
      zlib1g-dev libssl-dev libonnx-dev libprotobuf-dev protobuf-compiler \
      libcurl4-openssl-dev libarchive-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Portable code (no -march=native): the image runs on other CPUs than the one that built it.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDLCTL_NATIVE=OFF -DDLCTL_CUDA=${DLCTL_CUDA} \
      -DCMAKE_CUDA_ARCHITECTURES=${CUDA_ARCH} \
 && cmake --build build -j"$(nproc)" --target dlctl \
 && install -D -m 0755 build/dlctl /out/usr/local/bin/dlctl \
 && if [ -f build/libdlctl_cuda.so ]; then install -m 0644 build/libdlctl_cuda.so /out/usr/local/bin/; fi

FROM ${RUNTIME_BASE}
# The run-time halves of the -dev packages above (apt adds their own dependencies).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libyaml-cpp0.7 libhdf5-103-1 libfmt9 libssl3 zlib1g libonnx1 libprotobuf32 \
      libcurl4 libarchive13 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --create-home --shell /usr/sbin/nologin dlctl
COPY --from=build /out/ /
USER 65532:65532
WORKDIR /home/dlctl
EXPOSE 8501
ENTRYPOINT ["/usr/local/bin/dlctl"]
CMD ["--help"]
