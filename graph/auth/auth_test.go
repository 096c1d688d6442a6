package auth

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/smplat/smplat/graph/model"
	"github.com/smplat/smplat/store"
)

func TestResolveAndRequire(t *testing.T) {
	keys := NewKeys([]string{"ck-old", " ck-new "}, []string{"ak"})
	cases := []struct {
		name, header, value string
		want                model.Role
	}{
		{"no key", "", "", ""},
		{"wrong key", "X-API-Key", "nope", ""},
		{"checkout", "X-API-Key", "ck-old", model.RoleCheckout},
		{"rotated checkout", "X-API-Key", "ck-new", model.RoleCheckout},
		{"admin by bearer", "Authorization", "Bearer ak", model.RoleAdmin},
		{"bearer lower case", "Authorization", "bearer ak", model.RoleAdmin},
		{"basic is not bearer", "Authorization", "Basic ak", ""},
	}
	for _, tc := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			r.Header.Set(tc.header, tc.value)
		}
		p := keys.Resolve(KeyFromRequest(r))
		if p.Role != tc.want {
			t.Errorf("%s: role %q, want %q", tc.name, p.Role, tc.want)
		}
		ctx := WithPrincipal(context.Background(), p)
		checkErr, adminErr := keys.Require(ctx, model.RoleCheckout), keys.Require(ctx, model.RoleAdmin)
		switch tc.want {
		case "":
			assertCode(t, tc.name, checkErr, store.CodeUnauthenticated)
			assertCode(t, tc.name, adminErr, store.CodeUnauthenticated)
		case model.RoleCheckout:
			assertCode(t, tc.name, checkErr, "")
			assertCode(t, tc.name, adminErr, store.CodeForbidden)
		case model.RoleAdmin:
			assertCode(t, tc.name, checkErr, "")
			assertCode(t, tc.name, adminErr, "")
		}
	}
	if a, b := keys.Resolve("ck-old").Scope, keys.Resolve("ck-new").Scope; a == b || a == "" {
		t.Errorf("scopes of two keys: %q %q", a, b)
	}
}

func TestOpenRoles(t *testing.T) {
	keys := NewKeys(nil, []string{"ak"})
	if err := keys.Require(context.Background(), model.RoleCheckout); err != nil {
		t.Errorf("checkout with no key configured should be open: %v", err)
	}
	assertCode(t, "admin", keys.Require(context.Background(), model.RoleAdmin), store.CodeUnauthenticated)
}

func assertCode(t *testing.T, name string, err error, want store.Code) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("%s: unexpected %v", name, err)
		}
		return
	}
	e, ok := store.AsError(err)
	if !ok || e.Code != want {
		t.Errorf("%s: got %v, want %s", name, err, want)
	}
}
