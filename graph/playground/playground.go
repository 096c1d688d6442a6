// Package playground serves GraphiQL with its JavaScript and CSS embedded in
// the binary, so the playground works on a machine without internet access
// (gqlgen's playground.Handler loads GraphiQL and React from a CDN).
//
// The files under assets/ are the npm builds named in assets/VERSIONS;
// scripts/playground-assets.sh refreshes them.
//
// Mount one handler at both the page and its assets:
//
//	h := playground.Handler("smplat GraphQL", "/graphql")
//	r.Handle("/playground", h)
//	r.Handle("/playground/assets/*", h)
package playground

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"
)

//go:embed assets/graphiql.min.js assets/graphiql.min.css assets/react.production.min.js assets/react-dom.production.min.js
var assetFS embed.FS

// assetTypes are the files the page loads, with their content types.
var assetTypes = map[string]string{
	"graphiql.min.js":             "text/javascript; charset=utf-8",
	"graphiql.min.css":            "text/css; charset=utf-8",
	"react.production.min.js":     "text/javascript; charset=utf-8",
	"react-dom.production.min.js": "text/javascript; charset=utf-8",
}

// asset is one embedded file, with a gzip copy made on first use.
type asset struct {
	name, contentType string
	hash, etag        string // hash: hex of the content's SHA-256 prefix; etag: it quoted
	raw               []byte
	gzOnce            sync.Once
	gz                []byte
}

var assets = func() map[string]*asset {
	m := map[string]*asset{}
	for name, ct := range assetTypes {
		b, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			panic("playground: missing embedded asset " + name)
		}
		sum := sha256.Sum256(b)
		hash := hex.EncodeToString(sum[:12])
		m[name] = &asset{name: name, contentType: ct, raw: b, hash: hash, etag: `"` + hash + `"`}
	}
	return m
}()

func (a *asset) gzipped() []byte {
	a.gzOnce.Do(func() {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(a.raw)
		zw.Close()
		a.gz = buf.Bytes()
	})
	return a.gz
}

// serve writes the asset; the ETag is its content hash, so a browser
// revalidates cheaply and a new binary with new assets is never stale.
func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	body := a.raw
	if acceptsGzip(r) {
		body = a.gzipped()
		h.Set("Content-Encoding", "gzip")
	}
	// ServeContent handles If-None-Match, Range and HEAD.
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(enc) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// Handler serves the GraphiQL page for a GraphQL endpoint (a path such as
// "/graphql" or an absolute URL) and, for any request path with an
// "/assets/<file>" suffix, the embedded file. The page finds its assets
// next to its own path, so it works wherever it is mounted.
//
// The editor's query and variables may be preset with the ?query= and
// ?variables= URL parameters. Headers (e.g. X-API-Key for checkout and admin
// operations) are set in GraphiQL's header editor and are not persisted.
func Handler(title, endpoint string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if dir, file := path.Split(r.URL.Path); strings.HasSuffix(dir, "/assets/") {
			a, ok := assets[file]
			if !ok {
				http.NotFound(w, r)
				return
			}
			a.serve(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		base := strings.TrimSuffix(r.URL.Path, "/") + "/assets/"
		var buf bytes.Buffer
		err := page.Execute(&buf, pageData{
			Title:    title,
			Endpoint: endpoint,
			Assets:   base,
			Versions: map[string]string{
				"css": assets["graphiql.min.css"].hash, "react": assets["react.production.min.js"].hash,
				"reactDOM": assets["react-dom.production.min.js"].hash, "js": assets["graphiql.min.js"].hash,
			},
		})
		if err != nil {
			http.Error(w, "playground: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(buf.Bytes())
	})
}

type pageData struct {
	Title, Endpoint, Assets string
	Versions                map[string]string
}

// The asset URLs carry the content hash (?v=) so a cached old copy is never
// mixed with a new page.
var page = template.Must(template.New("graphiql").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{{.Title}}</title>
  <style>
    body { margin: 0; }
    #graphiql { height: 100vh; }
    .loading { height: 100%; display: flex; align-items: center; justify-content: center; font: 2rem sans-serif; }
  </style>
  <link rel="stylesheet" href="{{.Assets}}graphiql.min.css?v={{index .Versions "css"}}">
  <script src="{{.Assets}}react.production.min.js?v={{index .Versions "react"}}"></script>
  <script src="{{.Assets}}react-dom.production.min.js?v={{index .Versions "reactDOM"}}"></script>
</head>
<body>
  <div id="graphiql"><div class="loading">Loading GraphiQL…</div></div>
  <script src="{{.Assets}}graphiql.min.js?v={{index .Versions "js"}}"></script>
  <script>
    (function () {
      var endpoint = new URL({{.Endpoint}}, window.location.href).toString();
      var params = new URLSearchParams(window.location.search);
      var props = {
        fetcher: GraphiQL.createFetcher({ url: endpoint }),
        shouldPersistHeaders: false,
        isHeadersEditorEnabled: true,
        defaultEditorToolsVisibility: params.has("variables") ? "variables" : false,
      };
      if (params.has("query")) props.query = params.get("query");
      if (params.has("variables")) props.variables = params.get("variables");
      ReactDOM.createRoot(document.getElementById("graphiql")).render(React.createElement(GraphiQL, props));
    })();
  </script>
</body>
</html>
`))
