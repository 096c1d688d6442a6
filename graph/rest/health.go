package rest

import "net/http"

// Health serves GET /healthz: {"status":"ok","environment","version"}.
func Health(environment, version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "environment": environment, "version": version})
	}
}

// HealthV1 serves GET /api/v1/healthz: {"status":"ok"}.
func HealthV1() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}
