# Two stages: compile the bridge into one binary with the pinned Deno, ship it on a slim base.
FROM denoland/deno:bin-2.9.6 AS deno
FROM debian:bookworm-slim AS build
COPY --from=deno /deno /usr/local/bin/deno
WORKDIR /src
COPY deno.json deno.lock main.ts new-index-template.json ecs-index-template.json ./
COPY lib/ lib/
RUN deno task compile

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 bridge
WORKDIR /opt/app
COPY --from=build /src/dist/pmacct-kafka-elastic /usr/local/bin/pmacct-kafka-elastic
COPY new-index-template.json ecs-index-template.json ./
USER bridge
EXPOSE 9003
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/9003 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["/usr/local/bin/pmacct-kafka-elastic"]
