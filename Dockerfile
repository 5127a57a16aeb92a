# One image for every service: the command (ingest, inference, analytics, engage, broker, up) picks the role.
# Node 22, as .nvmrc: its built-in node:sqlite holds the history, so nothing is compiled (no build tools).
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY scripts ./scripts
COPY src ./src
# The image's npm 10 ignores package.json's allowScripts: skip onnxruntime-node's CUDA download (README).
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    PEOPLE_COUNTER_LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist ./dist
# The dashboard's static files are served from the source tree.
COPY --from=build /app/src/engage/web ./src/engage/web
# The crowd-density network and the int8 person detector (built in training/), read at run time from models/
COPY models ./models
RUN mkdir -p /data && chown node:node /data
USER node
ENTRYPOINT ["node", "bin/people-counter.js"]
CMD ["--help"]
