package store_test

import (
	"encoding/json"
	"testing"

	"github.com/smplat/smplat/store"
)

func TestFulfillmentConfigSeedPasses(t *testing.T) {
	t.Parallel()
	for slug, sp := range store.Seeds {
		if err := store.ValidateFulfillmentConfig(sp.FulfillmentConfig); err != nil {
			t.Errorf("seed %s: %v", slug, err)
		}
	}
}

func TestFulfillmentConfigValid(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"nil":             ``,
		"null":            `null`,
		"no tasks":        `{"tasks": []}`,
		"manual":          `{"tasks": [{"type": "manual", "title": "Deliver"}]}`,
		"upper type":      `{"tasks": [{"type": "MANUAL", "title": "Deliver"}]}`,
		"seconds":         `{"tasks": [{"type": "follower_growth", "title": "x", "schedule_offset_seconds": 0}]}`,
		"hours fraction":  `{"tasks": [{"type": "follower_growth", "title": "x", "schedule_offset_hours": 1.5}]}`,
		"scheduled_at":    `{"tasks": [{"type": "follower_growth", "title": "x", "scheduled_at": "2030-01-02T03:04:05Z"}]}`,
		"retries bounds":  `{"tasks": [{"type": "manual", "title": "x", "max_retries": 0}, {"type": "manual", "title": "y", "max_retries": 20}]}`,
		"payload null":    `{"tasks": [{"type": "manual", "title": "x", "payload": null, "metadata": {}}]}`,
		"url means http":  `{"tasks": [{"type": "manual", "title": "x", "execution": {"url": "https://x"}}]}`,
		"http defaults":   `{"tasks": [{"type": "manual", "title": "x", "execution": {"kind": "http", "url": "https://x"}}]}`,
		"http full":       `{"tasks": [{"type": "manual", "title": "x", "execution": {"kind": "HTTP", "method": "put", "url": "{{ env.BASE }}/x", "headers": {"A": "b"}, "query": {"q": "{{ order.id }}"}, "timeout_seconds": 300, "success_statuses": [200, 599], "environment_keys": ["BASE"]}}]}`,
		"http min max":    `{"tasks": [{"type": "manual", "title": "x", "execution": {"url": "https://x", "success_status_min": 200, "success_status_max": 200}}]}`,
		"smm panel":       `{"tasks": [{"type": "follower_growth", "title": "x", "execution": {"kind": "smm_panel", "url": "https://panel", "key": "{{ env.SMM_PANEL_KEY }}", "service": 12, "link": "{{ item.attributes.link }}", "quantity": "{{ item.quantity }}", "environment_keys": ["SMM_PANEL_KEY"]}}]}`,
		"manual kind":     `{"tasks": [{"type": "manual", "title": "x", "execution": {"kind": "manual"}}]}`,
		"unknown keys ok": `{"version": 2, "tasks": [{"type": "manual", "title": "x", "extra": true}]}`,
	} {
		if err := store.ValidateFulfillmentConfig(store.JSON(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFulfillmentConfigInvalid(t *testing.T) {
	t.Parallel()
	const p = "fulfillmentConfig.tasks.0."
	task := func(extra string) string {
		return `{"tasks": [{"type": "manual", "title": "t"` + extra + `}]}`
	}
	http := func(extra string) string {
		return task(`, "execution": {"kind": "http", "url": "https://x"` + extra + `}`)
	}
	smm := func(without string) string {
		block := map[string]any{"kind": "smm_panel", "url": "https://p", "key": "k", "service": "1", "link": "l", "quantity": 10}
		delete(block, without)
		b, _ := json.Marshal(map[string]any{"tasks": []any{map[string]any{"type": "manual", "title": "t", "execution": block}}})
		return string(b)
	}
	for _, tc := range []struct {
		name, doc, field string
	}{
		{"not json", `{"tasks": [`, "fulfillmentConfig"},
		{"array", `[]`, "fulfillmentConfig"},
		{"no tasks key", `{}`, "fulfillmentConfig.tasks"},
		{"tasks not list", `{"tasks": {}}`, "fulfillmentConfig.tasks"},
		{"task not object", `{"tasks": [1]}`, "fulfillmentConfig.tasks.0"},
		{"unknown type", `{"tasks": [{"type": "teleport", "title": "t"}]}`, p + "type"},
		{"missing type", `{"tasks": [{"title": "t"}]}`, p + "type"},
		{"blank title", `{"tasks": [{"type": "manual", "title": "  "}]}`, p + "title"},
		{"second task", `{"tasks": [{"type": "manual", "title": "t"}, {"type": "manual"}]}`, "fulfillmentConfig.tasks.1.title"},
		{"description number", task(`, "description": 3`), p + "description"},
		{"two schedules", task(`, "schedule_offset_minutes": 5, "schedule_offset_hours": 1`), p + "schedule_offset_hours"},
		{"offset and at", task(`, "schedule_offset_seconds": 5, "scheduled_at": "2030-01-01T00:00:00Z"`), p + "scheduled_at"},
		{"negative offset", task(`, "schedule_offset_seconds": -1`), p + "schedule_offset_seconds"},
		{"string offset", task(`, "schedule_offset_minutes": "5"`), p + "schedule_offset_minutes"},
		{"offset past a year", task(`, "schedule_offset_hours": 9000`), p + "schedule_offset_hours"},
		{"bad scheduled_at", task(`, "scheduled_at": "tomorrow"`), p + "scheduled_at"},
		{"retries 21", task(`, "max_retries": 21`), p + "max_retries"},
		{"retries negative", task(`, "max_retries": -1`), p + "max_retries"},
		{"retries fraction", task(`, "max_retries": 1.5`), p + "max_retries"},
		{"payload list", task(`, "payload": []`), p + "payload"},
		{"metadata string", task(`, "metadata": "x"`), p + "metadata"},
		{"execution list", task(`, "execution": []`), p + "execution"},
		{"unknown kind", task(`, "execution": {"kind": "ftp", "url": "x"}`), p + "execution.kind"},
		{"http no url", task(`, "execution": {"kind": "http"}`), p + "execution.url"},
		{"http url number", task(`, "execution": {"kind": "http", "url": 5}`), p + "execution.url"},
		{"bad method", http(`, "method": "TRACE"`), p + "execution.method"},
		{"headers list", http(`, "headers": ["a"]`), p + "execution.headers"},
		{"header number", http(`, "headers": {"X-N": 1}`), p + "execution.headers.X-N"},
		{"query number", http(`, "query": {"n": 1}`), p + "execution.query.n"},
		{"timeout 0", http(`, "timeout_seconds": 0`), p + "execution.timeout_seconds"},
		{"timeout 301", http(`, "timeout_seconds": 301`), p + "execution.timeout_seconds"},
		{"statuses empty", http(`, "success_statuses": []`), p + "execution.success_statuses"},
		{"status 600", http(`, "success_statuses": [200, 600]`), p + "execution.success_statuses.1"},
		{"status string", http(`, "success_statuses": ["200"]`), p + "execution.success_statuses.0"},
		{"list and min", http(`, "success_statuses": [200], "success_status_min": 200`), p + "execution.success_status_min"},
		{"min above max", http(`, "success_status_min": 300, "success_status_max": 200`), p + "execution.success_status_max"},
		{"min 99", http(`, "success_status_min": 99`), p + "execution.success_status_min"},
		{"env keys not list", http(`, "environment_keys": "A"`), p + "execution.environment_keys"},
		{"env key lowercase", http(`, "environment_keys": ["OK", "bad_key"]`), p + "execution.environment_keys.1"},
		{"env key digit first", http(`, "environment_keys": ["1A"]`), p + "execution.environment_keys.0"},
		{"env key database url", http(`, "environment_keys": ["FULFILLMENT_BASE_URL", "DATABASE_URL"]`), p + "execution.environment_keys.1"},
		{"env key admin key", http(`, "environment_keys": ["ADMIN_API_KEY"]`), p + "execution.environment_keys.0"},
		{"env key second task smm", `{"tasks": [{"type": "manual", "title": "t"}, {"type": "follower_growth", "title": "x",
			"execution": {"kind": "smm_panel", "url": "https://p", "key": "{{ env.STRIPE_SECRET_KEY }}", "service": 1, "link": "l",
			"quantity": 1, "environment_keys": ["SMM_PANEL_KEY", "STRIPE_SECRET_KEY"]}}]}`,
			"fulfillmentConfig.tasks.1.execution.environment_keys.1"},
		{"env not listed", task(`, "execution": {"url": "{{ env.SECRET }}/x"}`), p + "execution.url"},
		{"env in body not listed", http(`, "environment_keys": ["A"], "body": {"k": ["{{ env.A }}", "{{env.B}}"]}`), p + "execution.body.k.1"},
		{"smm no url", smm("url"), p + "execution.url"},
		{"smm no key", smm("key"), p + "execution.key"},
		{"smm no service", smm("service"), p + "execution.service"},
		{"smm no link", smm("link"), p + "execution.link"},
		{"smm no quantity", smm("quantity"), p + "execution.quantity"},
	} {
		err := store.ValidateFulfillmentConfig(store.JSON(tc.doc))
		e, ok := store.AsError(err)
		if !ok || e.Code != store.CodeBadUserInput || e.Field != tc.field {
			t.Errorf("%s: got %v, want BAD_USER_INPUT on %s", tc.name, err, tc.field)
		}
	}
}

func TestReservedEnvKey(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		// smplat's own settings
		"DATABASE_URL": true, "CHECKOUT_API_KEY": true, "ADMIN_API_KEY": true,
		"STRIPE_SECRET_KEY": true, "STRIPE_WEBHOOK_SECRET": true,
		"database_url": true, " ADMIN_API_KEY ": true, // the worker's env filter may see any case
		// reserved prefixes
		"DATABASE_PASSWORD_FILE": true, "STRIPE_PUBLISHABLE_KEY": true, "PGPASSWORD": true, "PGUSER": true,
		// secret-looking suffixes outside the provider namespaces
		"OPENAI_API_KEY": true, "AWS_SECRET": true, "AWS_SECRET_KEY": true, "AWS_SECRET_ACCESS_KEY": true,
		"TLS_PRIVATE_KEY": true, "AWS_ACCESS_KEY_ID": false,
		"REDIS_PASSWORD": true, "GITHUB_TOKEN": true,
		// provider namespaces are meant for task secrets
		"FULFILLMENT_BASE_URL": false, "FULFILLMENT_ANALYTICS_TOKEN": false, "FULFILLMENT_API_KEY": false,
		"FULFILLMENT_PASSWORD": false, "SMM_PANEL_KEY": false, "SMM_API_KEY": false, "SMM_SECRET": false,
		// ordinary names
		"BASE": false, "BASE_URL": false, "HOME": false, "PANEL_KEY": false, "API_KEYS_URL": false, "SECRETARY": false,
		"": false,
	} {
		if got := store.ReservedEnvKey(name); got != want {
			t.Errorf("ReservedEnvKey(%q) = %v, want %v", name, got, want)
		}
	}
}
