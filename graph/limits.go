package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// depthLimit rejects operations nested deeper than Max before any resolver
// runs. Fragments are followed; the __schema/__type introspection tree is
// measured like any other (introspection is off in production).
type depthLimit struct{ Max int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	if depth := selectionDepth(oc.Doc, oc.Operation.SelectionSet, 0, map[string]bool{}); depth > d.Max {
		err := gqlerror.Errorf("operation is nested %d levels deep; the limit is %d", depth, d.Max)
		err.Extensions = map[string]any{"code": "DEPTH_LIMIT_EXCEEDED"}
		return err
	}
	return nil
}

func selectionDepth(doc *ast.QueryDocument, set ast.SelectionSet, depth int, seen map[string]bool) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			if len(s.SelectionSet) == 0 {
				d = depth + 1
			} else {
				d = selectionDepth(doc, s.SelectionSet, depth+1, seen)
			}
		case *ast.InlineFragment:
			d = selectionDepth(doc, s.SelectionSet, depth, seen)
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue // a cycle is a validation error reported elsewhere
			}
			if f := doc.Fragments.ForName(s.Name); f != nil {
				seen[s.Name] = true
				d = selectionDepth(doc, f.SelectionSet, depth, seen)
				delete(seen, s.Name)
			}
		default:
			panic(fmt.Sprintf("unexpected selection %T", sel))
		}
		deepest = max(deepest, d)
	}
	return deepest
}
