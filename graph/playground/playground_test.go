package playground_test

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/smplat/smplat/graph/playground"
)

func TestHandlerServesPageAndEmbeddedAssets(t *testing.T) {
	h := playground.Handler("smplat GraphQL", "/graphql")

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/playground", nil))
	page := rec.Body.String()
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{"<title>smplat GraphQL</title>", `"/graphql"`,
		`src="/playground/assets/graphiql.min.js?v=`, `href="/playground/assets/graphiql.min.css?v=`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(page, "://") {
		t.Error("page names an absolute URL: it must load everything from the server")
	}

	for _, name := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/playground/assets/"+name, nil))
		if rec.Code != 200 || rec.Body.Len() < 1000 || rec.Header().Get("ETag") == "" {
			t.Errorf("%s: %d, %d bytes, etag %q", name, rec.Code, rec.Body.Len(), rec.Header().Get("ETag"))
		}
		// Revalidation with the ETag is a 304.
		req := httptest.NewRequest("GET", "/playground/assets/"+name, nil)
		req.Header.Set("If-None-Match", rec.Header().Get("ETag"))
		rec2 := httptest.NewRecorder()
		h.ServeHTTP(rec2, req)
		if rec2.Code != http.StatusNotModified {
			t.Errorf("%s revalidated: %d, want 304", name, rec2.Code)
		}
	}

	req := httptest.NewRequest("GET", "/playground/assets/react.production.min.js", nil)
	req.Header.Set("Accept-Encoding", "gzip, deflate")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding = %q, want gzip", rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if !strings.Contains(string(body), "react.production.min.js") {
		t.Error("gzipped asset does not decompress to React")
	}

	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/playground/assets/secret.txt", nil))
	if rec.Code != 404 {
		t.Errorf("unknown asset: %d, want 404", rec.Code)
	}
}
