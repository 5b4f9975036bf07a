# syntax=docker/dockerfile:1
# One image for every burnrate service; the command picks the service (the Helm chart and k8s/ set it per workload):
#   docker build -t burnrate .
#   docker run --read-only --tmpfs /tmp -e DATABASE_URL=... burnrate                                    # the api
#   docker run --read-only --tmpfs /tmp -e DATABASE_URL=... burnrate node dist/services/pricing/src/main.js
#   docker run --read-only --tmpfs /tmp -e DATABASE_URL=... burnrate node dist/scripts/migrate.js       # one-shot set-up
# In the container every service listens on $PORT (8080 unless set), which the HEALTHCHECK probes.

# Build: every dependency (TypeScript, tsc-alias), then the compiled services and scripts in dist/.
FROM node:24-bookworm-slim AS build
# swagger-ui-dist's install script reports to Scarf unless told not to.
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY libs libs
COPY packages packages
COPY console console
COPY services services
COPY scripts scripts
COPY schemas schemas
RUN npm run build

# Production dependencies only: no TypeScript, jest, @swc/core or the `node` package (all devDependencies).
FROM node:24-bookworm-slim AS deps
ENV SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="burnrate" \
      org.opencontainers.image.description="Per-agent LLM cost attribution and spend-anomaly detection (every service; the command selects one)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="UNLICENSED"
ENV NODE_ENV=production \
    PORT=8080 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist/libs ./dist/libs
COPY --from=build --chown=root:root /app/dist/services ./dist/services
COPY --from=build --chown=root:root /app/dist/scripts ./dist/scripts
COPY --from=build --chown=root:root /app/dist/console ./dist/console
COPY --chown=root:root package.json ./
COPY --chown=root:root schemas ./schemas
# The image's own non-root user, node (uid 1000), which owns nothing in /app: the code cannot change itself, and as
# nothing is written outside /tmp the root filesystem can be mounted read-only.
USER 1000:1000
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1 (exec form, no shell) and gets SIGTERM itself: the service stops taking work, consumers finish and
# commit their batch, and it exits 0 within SHUTDOWN_TIMEOUT_MS.
CMD ["node", "--enable-source-maps", "dist/services/api/src/main.js"]
