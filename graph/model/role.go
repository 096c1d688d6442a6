package model

import (
	"fmt"
	"io"
	"strconv"
)

// Role is an API role. Admin includes checkout.
type Role string

// The roles.
const (
	RoleCheckout Role = "CHECKOUT"
	RoleAdmin    Role = "ADMIN"
)

// Allows reports whether a caller holding r may use what needs want.
func (r Role) Allows(want Role) bool {
	return r == want || r == RoleAdmin
}

func (r Role) MarshalGQL(w io.Writer) { _, _ = io.WriteString(w, strconv.Quote(string(r))) }

func (r *Role) UnmarshalGQL(v any) error {
	s, _ := v.(string)
	switch Role(s) {
	case RoleCheckout, RoleAdmin:
		*r = Role(s)
		return nil
	}
	return fmt.Errorf("%v is not a valid Role", v)
}
