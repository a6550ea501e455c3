# syntax=docker/dockerfile:1
#
# sluice's container image, the one `sluice deploy airflow` and `sluice deploy kubernetes` run.
#
#   docker build -t sluice .                                      # with deploy/example-project
#   docker build --build-arg PROJECT_DIR=path/to/project -t etl .  # with your project
#
# Layout of the image:
#   /opt/sluice      the package: dist/ as `npm pack` ships it (no demo, bench or emulators: they are
#                    workspaces of the repository) and its production node_modules (npm ci
#                    --omit=dev, built in the deps stage, which has the compilers; the runtime has none)
#   /usr/local/bin/sluice → /opt/sluice/dist/cli/main.js (the package's bin); the ENTRYPOINT
#   /project         the project folder (sluice.yml or meltano.yml), the working directory and
#                    SLUICE_PROJECT_ROOT; writable by the user for .sluice/ and local outputs
# Secrets are not in the image (.dockerignore drops .env): the orchestrator passes them as
# variables (TAP_POSTGRES_PASSWORD, SLUICE_DATABASE_URI) and mounts credential files under
# /var/secrets/sluice. The user is `node` (uid 1000), never root.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Compiling needs only the product's JavaScript packages: none of the workspaces (packages/*: the
# demo, the bench, the emulators; not in the build context), no native builds, not the package's
# own prepare.
RUN npm ci --workspaces=false --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The package as `npm pack` makes it (package.json's `files`: dist/ without the declarations and
# build info tsc leaves there), in /package.
RUN npm run build \
 && npm pack --ignore-scripts --pack-destination /tmp \
 && mkdir /package \
 && tar -xzf /tmp/sluice-*.tgz -C /package --strip-components=1

# Production dependencies, native modules built here (better-sqlite3 compiles when no prebuilt
# binary can be downloaded), so that the runtime image carries no compiler.
FROM ${NODE_IMAGE} AS deps
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/sluice
COPY package.json package-lock.json ./
# `prepare` builds from sources, which this stage does not have: dist/ comes from the build stage.
# The product's dependencies alone: no workspace, nothing a development dependency needs.
RUN npm pkg delete scripts.prepare \
 && npm ci --omit=dev --workspaces=false --no-audit --no-fund \
 && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SLUICE_PROJECT_ROOT=/project
WORKDIR /opt/sluice
COPY --from=deps /opt/sluice/package.json /opt/sluice/package-lock.json ./
COPY --from=deps /opt/sluice/node_modules ./node_modules
COPY --from=build /package/dist ./dist
RUN chmod +x dist/cli/main.js && ln -s /opt/sluice/dist/cli/main.js /usr/local/bin/sluice

ARG PROJECT_DIR=deploy/example-project
WORKDIR /project
COPY --chown=node:node ${PROJECT_DIR}/ /project/
RUN chown node:node /project
USER node

ENTRYPOINT ["sluice"]
CMD ["--help"]
