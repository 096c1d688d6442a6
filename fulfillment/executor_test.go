package fulfillment_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smplat/smplat/fulfillment"
	"github.com/smplat/smplat/store"
)

var tplData = func() map[string]any {
	var d map[string]any
	dec := json.NewDecoder(strings.NewReader(`{
		"order": {"id": "o-1", "order_number": "SM000042", "total": 1277.40, "notes": null},
		"item": {"id": "i-1", "quantity": 3, "attributes": {"handle": "@brand", "tags": ["a", "b"]}},
		"product": {"slug": "instagram-growth"},
		"env": {"BASE": "https://p.example"}}`))
	dec.UseNumber()
	if err := dec.Decode(&d); err != nil {
		panic(err)
	}
	return d
}()

func TestRenderTemplates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want string // JSON of the rendered value
	}{
		{"{{ item.quantity }}", `3`},
		{"{{item.attributes}}", `{"handle":"@brand","tags":["a","b"]}`},
		{"{{ order.total }}", `1277.40`},
		{"{{ order.notes }}", `null`},
		{"{{ order.orderNumber }}", `"SM000042"`},
		{"qty={{ item.quantity }} total={{ order.total }}", `"qty=3 total=1277.40"`},
		{"{{ env.BASE }}/v1/{{ item.attributes.tags.1 }}", `"https://p.example/v1/b"`},
		{"note:{{ order.notes }}|{{ item.attributes.tags }}", `"note:|[\"a\",\"b\"]"`},
		{"no templates", `"no templates"`},
	} {
		got, err := fulfillment.RenderString(tc.in, tplData)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		b, _ := json.Marshal(got)
		if string(b) != tc.want {
			t.Errorf("%q rendered %s, want %s", tc.in, b, tc.want)
		}
	}
	for _, bad := range []string{"{{ order.nope }}", "{{ item.attributes.tags.9 }}", "x {{ env.HOME }}"} {
		_, err := fulfillment.RenderString(bad, tplData)
		var te *fulfillment.TemplateError
		if err == nil || !asTemplateError(err, &te) || !te.Permanent {
			t.Errorf("%q: got %v, want a permanent template error", bad, err)
		}
	}
}

func asTemplateError(err error, te **fulfillment.TemplateError) bool {
	e, ok := err.(*fulfillment.TemplateError)
	*te = e
	return ok
}

// job builds a Job for an execution block as the worker would.
func job(t *testing.T, exec any, state string, env map[string]string, client *http.Client) *fulfillment.Job {
	t.Helper()
	raw, _ := json.Marshal(exec)
	payload := `{"order": {"id": "o-1", "order_number": "SM000042", "total": 1277.40},
		"item": {"id": "i-1", "quantity": 3, "attributes": {"link": "https://instagram.com/brand"}},
		"product": {"slug": "instagram-growth"}, "playbook": "x"}`
	task := store.Task{ID: "t-1", OrderID: "o-1", TaskType: store.TaskFollowerGrowth, Title: "Grow",
		Payload: store.JSON(payload), Execution: store.JSON(raw), State: store.JSON(state), Attempt: 1}
	if client == nil {
		client = http.DefaultClient
	}
	j := &fulfillment.Job{Task: task, Getenv: func(k string) string { return env[k] }, Client: client, Now: time.Now,
		SaveState: func(context.Context, json.RawMessage) error { return nil }}
	d, err := fulfillment.TaskData(&task)
	if err != nil {
		t.Fatal(err)
	}
	j.Data = d
	return j
}

func TestHTTPExecutorRendersRequest(t *testing.T) {
	t.Parallel()
	var got *http.Request
	var body map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		_ = json.NewDecoder(r.Body).Decode(&body)
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"accepted": true}`)
	}))
	defer srv.Close()
	exec := map[string]any{"method": "PUT", "url": "{{ env.BASE }}/sync",
		"headers": map[string]any{"Authorization": "Bearer {{ env.TOKEN }}", "X-Qty": "{{ item.quantity }}"},
		"query":   map[string]any{"order": "{{ order.order_number }}"},
		"body": map[string]any{"quantity": "{{ item.quantity }}", "total": "{{ order.total }}",
			"label": "Order {{ order.order_number }} x{{ item.quantity }}", "task": "{{ task.id }}",
			"playbook": "{{ task.payload.playbook }}"},
		"success_statuses": []int{200, 202}, "environment_keys": []string{"BASE", "TOKEN"}}
	out := fulfillment.HTTPExecutor{}.Execute(context.Background(),
		job(t, exec, "", map[string]string{"BASE": srv.URL, "TOKEN": "s3cret"}, srv.Client()))
	if out.Kind != fulfillment.Complete {
		t.Fatalf("outcome %v: %s", out.Kind, out.Error)
	}
	if got.Method != "PUT" || got.URL.Query().Get("order") != "SM000042" || got.Header.Get("Authorization") != "Bearer s3cret" ||
		got.Header.Get("X-Qty") != "3" || got.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("request %s %s %v", got.Method, got.URL, got.Header)
	}
	if body["quantity"] != float64(3) || body["total"] != 1277.4 || body["label"] != "Order SM000042 x3" ||
		body["task"] != "t-1" || body["playbook"] != "x" {
		t.Fatalf("body %v", body)
	}
	if !strings.Contains(string(out.Result), `"status":202`) || !strings.Contains(string(out.Result), `"accepted":true`) {
		t.Fatalf("result %s", out.Result)
	}
}

func TestHTTPExecutorEnvRestrictedToListedKeys(t *testing.T) {
	t.Parallel()
	env := map[string]string{"BASE": "http://127.0.0.1:1", "DATABASE_URL": "postgres://u:pw@db/x"}
	exec := map[string]any{"url": "{{ env.BASE }}/x", "body": "{{ env.DATABASE_URL }}", "environment_keys": []string{"BASE"}}
	out := fulfillment.HTTPExecutor{}.Execute(context.Background(), job(t, exec, "", env, nil))
	if out.Kind != fulfillment.Fail || !out.Permanent || !strings.Contains(out.Error, "not listed in environment_keys") ||
		strings.Contains(out.Error, "pw") {
		t.Fatalf("outcome %+v", out)
	}
	// Listed but unset: a retryable failure naming no value.
	exec = map[string]any{"url": "{{ env.MISSING }}/x", "environment_keys": []string{"MISSING"}}
	out = fulfillment.HTTPExecutor{}.Execute(context.Background(), job(t, exec, "", env, nil))
	if out.Kind != fulfillment.Fail || out.Permanent || !strings.Contains(out.Error, "not set") {
		t.Fatalf("outcome %+v", out)
	}
}

func TestHTTPExecutorSuccessStatuses(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code := 200
		switch r.URL.Path {
		case "/201":
			code = 201
		case "/204":
			code = 204
		case "/500":
			code = 500
		case "/302":
			code = 404
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		spec map[string]any
		ok   bool
	}{
		{"/200", nil, true},
		{"/204", nil, true},
		{"/500", nil, false},
		{"/302", nil, false},
		{"/201", map[string]any{"success_statuses": []int{200, 202}}, false},
		{"/201", map[string]any{"success_status_min": 201, "success_status_max": 201}, true},
		{"/200", map[string]any{"success_status_min": 201, "success_status_max": 299}, false},
	} {
		exec := map[string]any{"url": srv.URL + tc.path}
		for k, v := range tc.spec {
			exec[k] = v
		}
		out := fulfillment.HTTPExecutor{}.Execute(context.Background(), job(t, exec, "", nil, srv.Client()))
		if (out.Kind == fulfillment.Complete) != tc.ok || (!tc.ok && out.Permanent) {
			t.Errorf("%s %v: outcome %v %s", tc.path, tc.spec, out.Kind, out.Error)
		}
	}
}

func TestHTTPExecutorTimeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	defer srv.Close()
	start := time.Now()
	out := fulfillment.HTTPExecutor{}.Execute(context.Background(),
		job(t, map[string]any{"url": srv.URL + "/slow?key=s3cret", "timeout_seconds": 0.2}, "", nil, srv.Client()))
	if out.Kind != fulfillment.Fail || out.Permanent || !strings.Contains(out.Error, "timed out") ||
		strings.Contains(out.Error, "s3cret") || time.Since(start) > 5*time.Second {
		t.Fatalf("outcome %+v after %v", out, time.Since(start))
	}
}

func TestHTTPExecutorCapsLargeReply(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for i := 0; i < (10<<20)/len(chunk); i++ { // 10 MB
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	out := fulfillment.HTTPExecutor{}.Execute(context.Background(), job(t, map[string]any{"url": srv.URL}, "", nil, srv.Client()))
	if out.Kind != fulfillment.Complete {
		t.Fatalf("outcome %v %s", out.Kind, out.Error)
	}
	var res struct {
		Response struct {
			Body      string `json:"body"`
			Truncated bool   `json:"truncated"`
		} `json:"response"`
	}
	if err := json.Unmarshal(out.Result, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Response.Truncated || len(res.Response.Body) != fulfillment.MaxStoredResponse || len(out.Result) > 2*fulfillment.MaxStoredResponse {
		t.Fatalf("stored %d bytes, truncated %v", len(res.Response.Body), res.Response.Truncated)
	}
}
