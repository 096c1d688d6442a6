# Multi-stage build: a static smplat binary in a small image, run as non-root.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/smplat ./cmd/smplat

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/smplat /usr/local/bin/smplat
USER nonroot:nonroot
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/smplat"]
CMD ["serve"]
