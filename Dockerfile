# Vigil image for docker-compose.yml (gateway and pipeline workers). Development machines
# have no Docker engine; this file is for deployments that do.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY pipelines ./pipelines
COPY bin ./bin
COPY patches ./patches
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app /app
# Named volumes mounted here start with this folder's owner: the user the image runs as.
RUN mkdir -p /var/lib/vigil && chown node:node /var/lib/vigil
USER node
ENTRYPOINT ["node", "bin/vigil.js"]
