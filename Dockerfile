# A static ffdelay in an empty (scratch) image: no shell, no packages,
# non-root. The CA bundle comes from the build stage, for TLS to servers
# with public certificates (--tls-ca for a private CA).
# docker build --build-arg VERSION=$(git describe --tags --always) -t ffdelay:0.2.0 .
FROM golang:1.26.8-bookworm AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/flowfabric/ffdelay/commands.Version=${VERSION}" -o /out/ffdelay .

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/ffdelay /usr/local/bin/ffdelay
EXPOSE 9465
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/ffdelay"]
CMD ["promote", "--watch", "--discover-lanes", "--quiet"]
