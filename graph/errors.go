package graph

import (
	"context"
	"errors"
	"log/slog"

	"github.com/99designs/gqlgen/graphql"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/smplat/smplat/store"
)

func isNotFound(err error) bool {
	e, ok := store.AsError(err)
	return ok && e.Code == store.CodeNotFound
}

// errorPresenter maps every resolver error to the shared catalog: a
// store.Error keeps its code, message and field; gqlparser's own errors
// (parse, validation, limits) keep theirs; anything else is logged with the
// request id and shown as INTERNAL with no detail.
func errorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Built by gqlgen/gqlparser: parse, validation, complexity.
			return gqlErr
		}
		presented := graphql.DefaultErrorPresenter(ctx, err)
		if err.Error() == "introspection disabled" { // gqlgen's plain error when introspection is off
			err = &store.Error{Code: store.CodeForbidden, Message: "introspection is disabled"}
		}
		if e, ok := store.AsError(err); ok {
			presented.Message = e.Message
			ext := map[string]any{"code": string(e.Code)}
			if e.Field != "" {
				ext["field"] = e.Field
			}
			for k, v := range e.Extra {
				ext[k] = v
			}
			presented.Extensions = ext
			return presented
		}
		reqID := middleware.GetReqID(ctx)
		logger.ErrorContext(ctx, "graphql resolver error", "request_id", reqID,
			"path", presented.Path.String(), "error", store.RedactError(err))
		presented.Message = "internal error (request id " + reqID + ")"
		presented.Extensions = map[string]any{"code": string(store.CodeInternal), "requestId": reqID}
		return presented
	}
}
