#!/usr/bin/env bash
# playground-assets.sh — refresh the GraphiQL files embedded in graph/playground
# from the npm registry (needs npm). Pin the versions below, run this, check the
# browser test (go test ./graph/playground/), and commit graph/playground/assets.
set -euo pipefail
cd "$(dirname "$0")/.."

GRAPHIQL_VERSION=${GRAPHIQL_VERSION:-3.8.3}
REACT_VERSION=${REACT_VERSION:-18.3.1}

dest=graph/playground/assets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent "graphiql@$GRAPHIQL_VERSION" "react@$REACT_VERSION" "react-dom@$REACT_VERSION" >/dev/null)
for pkg in "graphiql-$GRAPHIQL_VERSION" "react-$REACT_VERSION" "react-dom-$REACT_VERSION"; do
  mkdir -p "$tmp/${pkg%-*}"
  tar xzf "$tmp/$pkg.tgz" -C "$tmp/${pkg%-*}"
done

cp "$tmp/graphiql/package/graphiql.min.js" "$tmp/graphiql/package/graphiql.min.css" "$dest/"
cp "$tmp/react/package/umd/react.production.min.js" "$dest/"
cp "$tmp/react-dom/package/umd/react-dom.production.min.js" "$dest/"
cp "$tmp/graphiql/package/LICENSE" "$dest/LICENSE.graphiql"
cp "$tmp/react/package/LICENSE" "$dest/LICENSE.react"
cp "$tmp/react-dom/package/LICENSE" "$dest/LICENSE.react-dom"
cat >"$dest/VERSIONS" <<VERSIONS
graphiql $GRAPHIQL_VERSION
react $REACT_VERSION
react-dom $REACT_VERSION
VERSIONS
echo "playground assets: graphiql $GRAPHIQL_VERSION, react/react-dom $REACT_VERSION -> $dest"
