# Stand-in for the official Node.js image where no registry is reachable: Debian with the
# build machine's Node.js and npm copied in (scripts/container.sh). Same paths as the official
# image: node and npm on the PATH.
FROM debian:bookworm-slim
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY host-ca.crt /usr/local/share/agora-host-ca.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
    && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx
# The npm registry may be reached through a proxy whose CA only the build machine trusts.
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/agora-host-ca.crt
