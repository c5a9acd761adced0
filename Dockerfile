# GPUBroker API node (Node 24). Stateless when DATABASE_URL and REDIS_URL are set.
#   docker build -t gpubroker .
#   docker run --rm -e DATABASE_URL=… gpubroker node dist/scripts/migrate.js   # before new versions start
#   docker run -p 4000:4000 -e DATABASE_URL=… -e REDIS_URL=… gpubroker
# deploy/compose.yaml runs PostgreSQL, Redis, the migration and two API replicas. Without DATABASE_URL
# a node runs on embedded PGlite in /data (a volume). The same layout is built and started without Docker
# by test/production/layout.sh, which CI runs.

# ---- build: every dependency, the Prisma client generated, TypeScript compiled to dist/
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund
COPY src ./src
COPY scripts ./scripts
RUN npm run build

# ---- production dependencies only, at the locked versions, without install scripts (the Prisma client is
# already compiled into dist/). Not `npm ci --omit=dev`: it would keep @prisma/client's optional peers
# (the prisma CLI, typescript, effect: ~120 MB) because they are also devDependencies.
FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm pkg delete devDependencies \
 && npm install --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# ---- runtime: node on the build, as a non-root user
FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=4000 HOST=0.0.0.0 PGLITE_DATA_DIR=/data/pglite
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY prisma/migrations ./prisma/migrations
COPY data ./data
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 4000
# /ready: PostgreSQL, Redis when configured, and event delivery (503 otherwise); /health is liveness only.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.PORT+'/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node is PID 1 and handles SIGTERM itself (graceful stop: in-flight requests finish, subscribers are
# told to reconnect, ingestion leadership is released). No npm in between: npm does not forward signals.
STOPSIGNAL SIGTERM
CMD ["node", "--enable-source-maps", "dist/src/main.js"]
