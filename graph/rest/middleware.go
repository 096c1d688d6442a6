package rest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/smplat/smplat/graph/auth"
	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/store"
)

// RequireRole refuses callers whose key does not grant the role: 401 for a
// missing or unknown key, 403 for a lesser role, in the error catalog's
// shape.
func RequireRole(keys *auth.Keys, role model.Role, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := keys.Require(r.Context(), role); err != nil {
				WriteError(w, r, logger, err)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// maxIdempotentBody caps the bodies of idempotent requests.
const maxIdempotentBody = 1 << 20

// Idempotent gives a create route Stripe's Idempotency-Key semantics: the
// first request with a key runs and its response is stored; a retry with the
// same method, path and body gets that response byte for byte with
// `Idempotent-Replayed: true`; a different body is 422 IDEMPOTENCY_CONFLICT;
// a retry while the first runs is 409 IDEMPOTENCY_IN_FLIGHT. Keys are scoped
// per API key. A request that fails (any non-2xx) stores nothing.
func Idempotent(st *store.Store, logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("Idempotency-Key")
			if key == "" {
				next.ServeHTTP(w, r)
				return
			}
			if len(key) > 255 || strings.TrimSpace(key) == "" {
				WriteError(w, r, logger, store.BadInput("Idempotency-Key", "must be 1 to 255 characters"))
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxIdempotentBody))
			if err != nil {
				WriteError(w, r, logger, err)
				return
			}
			sum := sha256.New()
			io.WriteString(sum, r.Method+" "+strings.TrimSuffix(r.URL.Path, "/")+"\n")
			sum.Write(body)
			scope, k := auth.Scope(r.Context()), "rest:"+key
			replay, err := st.BeginIdempotent(r.Context(), scope, k, hex.EncodeToString(sum.Sum(nil)))
			if err != nil {
				WriteError(w, r, logger, err)
				return
			}
			if replay != nil {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Idempotent-Replayed", "true")
				w.WriteHeader(replay.Status)
				_, _ = w.Write(replay.Body)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			rec := NewRecorder(w)
			next.ServeHTTP(rec, r)
			// A client that gave up must not leave the key in flight.
			ctx := context.WithoutCancel(r.Context())
			if rec.Status >= 200 && rec.Status < 300 {
				err = st.CompleteIdempotent(ctx, scope, k, rec.Status, rec.Body.Bytes())
			} else {
				err = st.AbandonIdempotent(ctx, scope, k)
			}
			if err != nil {
				logger.ErrorContext(ctx, "idempotency key bookkeeping failed", "error", err)
			}
		})
	}
}

// Recorder passes a response through while keeping a copy of its status
// and body (for idempotent replays and the response cache).
type Recorder struct {
	http.ResponseWriter
	Status int
	Body   bytes.Buffer
}

// NewRecorder wraps w; the status is 200 until WriteHeader says otherwise.
func NewRecorder(w http.ResponseWriter) *Recorder {
	return &Recorder{ResponseWriter: w, Status: http.StatusOK}
}

func (r *Recorder) WriteHeader(status int) {
	r.Status = status
	r.ResponseWriter.WriteHeader(status)
}

func (r *Recorder) Write(b []byte) (int, error) {
	r.Body.Write(b)
	return r.ResponseWriter.Write(b)
}
