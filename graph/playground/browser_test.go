package playground_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/smplat/smplat/graph"
	"github.com/smplat/smplat/store/storetest"
)

// chromiumPath is Debian's `chromium` package (.ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

// TestPlaygroundInBrowser opens /playground of the real HTTP surface in
// headless Chromium, runs the instagram-growth product query with the run
// button and reads the product's title from the rendered result. The
// browser may fetch nothing but the test server: the playground must work
// offline.
func TestPlaygroundInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("skipping the browser test: %s not found (apt-get install chromium)", chromiumPath)
	}
	st := storetest.NewStore(t)
	ctx := context.Background()
	if _, err := st.Seed(ctx, "instagram-growth"); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	api := graph.NewServer(graph.ServerConfig{
		Store: st, Logger: logger, Environment: "development", Version: "test",
		Playground: true, Introspection: true,
	})
	if !servesEmbeddedAssets(api) {
		t.Fatal("graph.NewServer does not serve /playground/assets/: mount playground.Handler in routes.go")
	}
	srv := httptest.NewServer(api)
	defer srv.Close()

	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()

	// The listener runs in the tab's read loop: record and return.
	var mu sync.Mutex
	var requests, problems []string
	listener := func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			requests = append(requests, e.Request.URL)
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			problems = append(problems, "exception: "+msg)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				problems = append(problems, "console.error: "+strings.Join(parts, " "))
			}
		}
	}
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf), chromedp.WithListener(listener))
	defer cancelBrowser()
	runCtx, cancel := context.WithTimeout(browserCtx, 90*time.Second)
	defer cancel()

	query := `{ product(slug: "instagram-growth") { title } }`
	pageURL := srv.URL + "/playground?query=" + url.QueryEscape(query)
	run := chromedp.CSS(".graphiql-execute-button")
	err := chromedp.Do(runCtx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{})
			return err
		}),
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible(run),
		chromedp.Click(run),
	)
	var result string
	if err == nil {
		result, err = chromedp.Run(runCtx, chromedp.Poll[string](`(() => {
			const r = document.querySelector('.result-window');
			return r && r.innerText.includes('Instagram Growth Service') ? r.innerText : null })()`,
			chromedp.WithPollingInterval(100*time.Millisecond)))
	}
	if err != nil {
		text, _ := chromedp.Run(browserCtx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("playground: %v\npage text: %.2000s\nbrowser problems: %q", err, text, problems)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(result, `"title": "Instagram Growth Service"`) {
		t.Errorf("result pane = %q, want the product's title", result)
	}
	for _, u := range requests {
		if !strings.HasPrefix(u, srv.URL+"/") && !strings.HasPrefix(u, "data:") && !strings.HasPrefix(u, "blob:") {
			t.Errorf("the playground fetched %s: it must load nothing from outside the server", u)
		}
	}
	if len(problems) > 0 {
		t.Logf("browser problems: %q", problems)
	}
}

// servesEmbeddedAssets reports whether h already serves the playground's
// embedded GraphiQL (routes.go mounts graph/playground).
func servesEmbeddedAssets(h http.Handler) bool {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/playground/assets/react.production.min.js", nil))
	return rec.Code == http.StatusOK && strings.Contains(rec.Body.String(), "react.production.min.js")
}
