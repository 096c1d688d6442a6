package store

// Write-time validation of a product's fulfillment_config (SPEC §9). The
// worker (and EnqueueTasksTx) read the same document at payment time, when a
// mistake can no longer be shown to the admin who made it; so the admin API
// refuses a bad document when it is written, naming the JSON path of the
// first problem, e.g. "fulfillmentConfig.tasks.0.execution.url".

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// fulfillmentConfigField is the input field a fulfillment config arrives in.
const fulfillmentConfigField = "fulfillmentConfig"

// Limits of a fulfillment config. max_retries is bounded tighter than the
// enqueue-time bound in tasks.go on purpose: new configs stay well inside
// what the worker accepts.
const (
	maxFulfillmentTasks    = 50
	maxTaskRetries         = 20
	maxTaskTimeoutSeconds  = 300
	maxScheduleOffsetHours = 366 * 24 // one year
)

// fulfillmentTaskTypes are the task types a config may name.
var fulfillmentTaskTypes = []string{"instagram_setup", "follower_growth", "engagement_boost",
	"content_promotion", "analytics_collection", "campaign_optimization", "manual"}

var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

var envKeyPattern = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// envRef finds {{ env.NAME }} references in template strings.
var envRef = regexp.MustCompile(`\{\{\s*env\.([A-Za-z0-9_]+)\s*\}\}`)

// ValidateFulfillmentConfig checks a fulfillment_config document:
//
//	{"tasks": [{type, title, description?, schedule_offset_seconds|minutes|hours | scheduled_at,
//	            max_retries?, payload?, metadata?, execution?}, …]}
//
// type is one of instagram_setup, follower_growth, engagement_boost,
// content_promotion, analytics_collection, campaign_optimization, manual;
// title is non-blank; at most one schedule key (offsets non-negative
// numbers up to a year, scheduled_at RFC 3339); max_retries 0..20; payload
// and metadata are objects. execution is optional; its kind is http,
// smm_panel or manual (absent kind with a url means http, without one
// manual):
//   - http: url (string), method GET/POST/PUT/PATCH/DELETE (default POST),
//     headers and query objects of strings, timeout_seconds 1..300,
//     success_statuses (non-empty list of ints 100..599) or
//     success_status_min/max (not both);
//   - smm_panel: url, key (string, usually "{{ env.SMM_PANEL_KEY }}"),
//     service, link and quantity (strings or numbers), timeout_seconds,
//     params (object);
//   - every kind: environment_keys is a list of names matching
//     ^[A-Z][A-Z0-9_]*$ that are not reserved (ReservedEnvKey: smplat's own
//     settings and secrets are never exposed to a task), and every
//     {{ env.NAME }} used in the block must be listed there (the worker
//     exposes nothing else).
//
// Unknown keys are kept and ignored. An empty or JSON null document is valid
// (it means one manual "Deliver <title>" task per item). Errors are
// BAD_USER_INPUT with the path of the offending value.
func ValidateFulfillmentConfig(cfg JSON) error {
	if len(bytes.TrimSpace(cfg)) == 0 {
		return nil
	}
	v, err := decodeJSONNumbers(cfg)
	if err != nil {
		return BadInput(fulfillmentConfigField, "must be valid JSON: %v", err)
	}
	if v == nil {
		return nil
	}
	doc, ok := v.(map[string]any)
	if !ok {
		return BadInput(fulfillmentConfigField, "must be an object with a tasks list")
	}
	tasksField := fulfillmentConfigField + ".tasks"
	rawTasks, present := doc["tasks"]
	if !present || rawTasks == nil {
		return BadInput(tasksField, "is required (use an empty list for no tasks)")
	}
	tasks, ok := rawTasks.([]any)
	if !ok {
		return BadInput(tasksField, "must be a list")
	}
	if len(tasks) > maxFulfillmentTasks {
		return BadInput(tasksField, "must have at most %d tasks", maxFulfillmentTasks)
	}
	for i, t := range tasks {
		if err := validateTaskConfig(fmt.Sprintf("%s.%d", tasksField, i), t); err != nil {
			return err
		}
	}
	return nil
}

// decodeJSONNumbers decodes one JSON value keeping numbers as json.Number,
// so integers can be told from fractions.
func decodeJSONNumbers(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the document")
	}
	return v, nil
}

func validateTaskConfig(path string, raw any) error {
	task, ok := raw.(map[string]any)
	if !ok {
		return BadInput(path, "must be an object")
	}
	at := func(key string) string { return path + "." + key }

	typ, ok := task["type"].(string)
	if !ok || !containsFold(fulfillmentTaskTypes, typ) {
		return BadInput(at("type"), "must be one of %s", strings.Join(fulfillmentTaskTypes, ", "))
	}
	if title, ok := task["title"].(string); !ok || strings.TrimSpace(title) == "" {
		return BadInput(at("title"), "is required")
	}
	if d, present := task["description"]; present && d != nil {
		if _, ok := d.(string); !ok {
			return BadInput(at("description"), "must be a string")
		}
	}

	var scheduleKey string
	for _, key := range []string{"schedule_offset_seconds", "schedule_offset_minutes", "schedule_offset_hours", "scheduled_at"} {
		v, present := task[key]
		if !present || v == nil {
			continue
		}
		if scheduleKey != "" {
			return BadInput(at(key), "give at most one of schedule_offset_seconds, schedule_offset_minutes, schedule_offset_hours and scheduled_at (%s is already set)", scheduleKey)
		}
		scheduleKey = key
		if key == "scheduled_at" {
			s, ok := v.(string)
			if !ok {
				return BadInput(at(key), "must be an RFC 3339 timestamp")
			}
			if _, err := time.Parse(time.RFC3339, s); err != nil {
				return BadInput(at(key), "must be an RFC 3339 timestamp")
			}
			continue
		}
		n, ok := jsonFloat(v)
		if !ok || n < 0 {
			return BadInput(at(key), "must be a non-negative number")
		}
		hours := map[string]float64{"schedule_offset_seconds": n / 3600, "schedule_offset_minutes": n / 60, "schedule_offset_hours": n}[key]
		if hours > maxScheduleOffsetHours {
			return BadInput(at(key), "must be at most one year")
		}
	}

	if v, present := task["max_retries"]; present && v != nil {
		n, ok := jsonInt(v)
		if !ok || n < 0 || n > maxTaskRetries {
			return BadInput(at("max_retries"), "must be an integer between 0 and %d", maxTaskRetries)
		}
	}
	for _, key := range []string{"payload", "metadata"} {
		if v, present := task[key]; present && v != nil {
			if _, ok := v.(map[string]any); !ok {
				return BadInput(at(key), "must be an object")
			}
		}
	}
	if v, present := task["execution"]; present && v != nil {
		return validateExecution(at("execution"), v)
	}
	return nil
}

func validateExecution(path string, raw any) error {
	block, ok := raw.(map[string]any)
	if !ok {
		return BadInput(path, "must be an object")
	}
	at := func(key string) string { return path + "." + key }

	kind := ""
	if v, present := block["kind"]; present && v != nil {
		s, ok := v.(string)
		if !ok {
			return BadInput(at("kind"), "must be http, smm_panel or manual")
		}
		kind = strings.ToLower(strings.TrimSpace(s))
	}
	if kind == "" {
		// The seed's older blocks name no kind: a url means http.
		if _, hasURL := block["url"]; hasURL {
			kind = ExecutionHTTP
		} else {
			kind = ExecutionManual
		}
	}

	envKeys, err := validateEnvironmentKeys(at("environment_keys"), block["environment_keys"])
	if err != nil {
		return err
	}

	switch kind {
	case ExecutionHTTP:
		if err := validateHTTPExecution(at, block); err != nil {
			return err
		}
	case ExecutionSMMPanel:
		if err := validateSMMExecution(at, block); err != nil {
			return err
		}
	case ExecutionManual:
	default:
		return BadInput(at("kind"), "must be http, smm_panel or manual")
	}

	// Every {{ env.NAME }} must be listed: the worker exposes nothing else,
	// and a task that can never render is better refused now.
	for key, v := range block {
		if key == "kind" || key == "environment_keys" {
			continue
		}
		if err := checkEnvRefs(at(key), v, envKeys); err != nil {
			return err
		}
	}
	return nil
}

func validateHTTPExecution(at func(string) string, block map[string]any) error {
	if err := requireString(at("url"), block["url"]); err != nil {
		return err
	}
	if v, present := block["method"]; present && v != nil {
		s, ok := v.(string)
		if !ok || !containsFold(httpMethods, s) {
			return BadInput(at("method"), "must be one of %s", strings.Join(httpMethods, ", "))
		}
	}
	for _, key := range []string{"headers", "query"} {
		if err := stringMap(at(key), block[key]); err != nil {
			return err
		}
	}
	if err := timeoutSeconds(at("timeout_seconds"), block["timeout_seconds"]); err != nil {
		return err
	}
	statuses, hasList := block["success_statuses"]
	hasList = hasList && statuses != nil
	if hasList {
		list, ok := statuses.([]any)
		if !ok || len(list) == 0 {
			return BadInput(at("success_statuses"), "must be a non-empty list of HTTP status codes")
		}
		for i, c := range list {
			if n, ok := jsonInt(c); !ok || n < 100 || n > 599 {
				return BadInput(fmt.Sprintf("%s.%d", at("success_statuses"), i), "must be an HTTP status code (100..599)")
			}
		}
	}
	bounds := map[string]int64{}
	for _, key := range []string{"success_status_min", "success_status_max"} {
		v, present := block[key]
		if !present || v == nil {
			continue
		}
		if hasList {
			return BadInput(at(key), "give success_statuses or success_status_min/max, not both")
		}
		n, ok := jsonInt(v)
		if !ok || n < 100 || n > 599 {
			return BadInput(at(key), "must be an HTTP status code (100..599)")
		}
		bounds[key] = n
	}
	lo, hasLo := bounds["success_status_min"]
	hi, hasHi := bounds["success_status_max"]
	if hasLo && hasHi && lo > hi {
		return BadInput(at("success_status_max"), "must not be below success_status_min")
	}
	return nil
}

func validateSMMExecution(at func(string) string, block map[string]any) error {
	if err := requireString(at("url"), block["url"]); err != nil {
		return err
	}
	if err := requireString(at("key"), block["key"]); err != nil {
		return err
	}
	for _, key := range []string{"service", "link", "quantity"} {
		switch v := block[key].(type) {
		case string:
			if strings.TrimSpace(v) == "" {
				return BadInput(at(key), "is required")
			}
		case json.Number:
		default:
			return BadInput(at(key), "is required (a string or a number)")
		}
	}
	if v, present := block["params"]; present && v != nil {
		if _, ok := v.(map[string]any); !ok {
			return BadInput(at("params"), "must be an object")
		}
	}
	return timeoutSeconds(at("timeout_seconds"), block["timeout_seconds"])
}

func validateEnvironmentKeys(path string, raw any) (map[string]bool, error) {
	keys := map[string]bool{}
	if raw == nil {
		return keys, nil
	}
	list, ok := raw.([]any)
	if !ok {
		return nil, BadInput(path, "must be a list of environment variable names")
	}
	for i, k := range list {
		s, ok := k.(string)
		if !ok || !envKeyPattern.MatchString(s) {
			return nil, BadInput(fmt.Sprintf("%s.%d", path, i), "must be an environment variable name (A-Z, 0-9, _; starting with a letter)")
		}
		if ReservedEnvKey(s) {
			return nil, BadInput(fmt.Sprintf("%s.%d", path, i), "%s is reserved: smplat's own settings and secrets "+
				"cannot be exposed to tasks (name provider secrets FULFILLMENT_… or SMM_…)", s)
		}
		keys[s] = true
	}
	return keys, nil
}

// checkEnvRefs walks v and refuses a {{ env.NAME }} whose NAME is not in
// environment_keys.
func checkEnvRefs(path string, v any, keys map[string]bool) error {
	switch x := v.(type) {
	case string:
		for _, m := range envRef.FindAllStringSubmatch(x, -1) {
			if !keys[m[1]] {
				return BadInput(path, "uses env.%s, which is not listed in environment_keys", m[1])
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := checkEnvRefs(path+"."+k, e, keys); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkEnvRefs(fmt.Sprintf("%s.%d", path, i), e, keys); err != nil {
				return err
			}
		}
	}
	return nil
}

func requireString(path string, v any) error {
	s, ok := v.(string)
	if !ok || strings.TrimSpace(s) == "" {
		return BadInput(path, "is required (a string)")
	}
	return nil
}

func stringMap(path string, v any) error {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return BadInput(path, "must be an object of strings")
	}
	for k, e := range m {
		if _, ok := e.(string); !ok {
			return BadInput(path+"."+k, "must be a string")
		}
	}
	return nil
}

func timeoutSeconds(path string, v any) error {
	if v == nil {
		return nil
	}
	n, ok := jsonFloat(v)
	if !ok || n < 1 || n > maxTaskTimeoutSeconds {
		return BadInput(path, "must be a number of seconds between 1 and %d", maxTaskTimeoutSeconds)
	}
	return nil
}

func jsonFloat(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

func jsonInt(v any) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := n.Int64()
	if err != nil {
		// Accept 3.0 as 3, refuse 3.5.
		f, ferr := n.Float64()
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return i, true
}

func containsFold(list []string, s string) bool {
	s = strings.TrimSpace(s)
	for _, e := range list {
		if strings.EqualFold(e, s) {
			return true
		}
	}
	return false
}

// ReservedEnvKey reports whether an environment variable must never reach a
// task's templates, whatever a fulfillment config lists in environment_keys:
// an admin could otherwise send smplat's own secrets to any URL. Reserved
// are smplat's settings (DATABASE_URL, CHECKOUT_API_KEY, ADMIN_API_KEY,
// STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET), anything starting with
// DATABASE_, STRIPE_ or PG (libpq reads PGPASSWORD and friends), and any
// name ending in _API_KEY, _SECRET, _SECRET_KEY, _ACCESS_KEY, _PRIVATE_KEY,
// _PASSWORD or _TOKEN — except names starting with FULFILLMENT_ or SMM_,
// the namespaces meant for provider credentials (FULFILLMENT_ANALYTICS_TOKEN,
// SMM_PANEL_KEY). It is a deny list, so it cannot be complete; the allow
// list (environment_keys) and the admin key remain the main guard.
// Matching ignores case, so the worker may filter its environment with it.
func ReservedEnvKey(name string) bool {
	n := strings.ToUpper(strings.TrimSpace(name))
	switch n {
	case "DATABASE_URL", "CHECKOUT_API_KEY", "ADMIN_API_KEY", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET":
		return true
	}
	if strings.HasPrefix(n, "FULFILLMENT_") || strings.HasPrefix(n, "SMM_") {
		return false
	}
	for _, p := range reservedEnvPrefixes {
		if strings.HasPrefix(n, p) {
			return true
		}
	}
	for _, sfx := range reservedEnvSuffixes {
		if strings.HasSuffix(n, sfx) {
			return true
		}
	}
	return false
}

var (
	reservedEnvPrefixes = []string{"DATABASE_", "STRIPE_", "PG"}
	reservedEnvSuffixes = []string{"_API_KEY", "_SECRET", "_SECRET_KEY", "_ACCESS_KEY", "_PRIVATE_KEY",
		"_PASSWORD", "_TOKEN"}
)
