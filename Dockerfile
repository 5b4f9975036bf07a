# syntax=docker/dockerfile:1
# One image for every burnrate service; the command picks the service:
#   docker run ... burnrate node dist/services/pricing/src/main.js
# Build: docker build -t burnrate .   (multi-stage: the runtime stage has production dependencies only)

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY libs libs
COPY services services
COPY scripts scripts
COPY schemas schemas
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
# The image's own non-root user, node (uid 1000); nothing is written outside /tmp, so the root filesystem can be read-only.
USER 1000:1000
EXPOSE 8080 8081 9101 9102 9103 9104 9105
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node runs as PID 1 (exec form) and handles SIGTERM itself: consumers finish and commit their batch, then exit.
CMD ["node", "--enable-source-maps", "dist/services/api/src/main.js"]
