package store

// The shared mechanics of the nested catalog entities (option groups,
// options, add-ons, custom fields, subscription plans): every Create,
// Update, Delete and Reorder in admin.go validates its input and then runs
// one of the childTable methods below inside one transaction (inTxResult).

import (
	"context"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// inTxResult runs fn in one transaction (Store.InTx) and returns its
// result; on any error nothing is written and the result is T's zero value.
func inTxResult[T any](ctx context.Context, s *Store, fn func(tx *sqlx.Tx) (T, error)) (T, error) {
	var out T
	err := s.InTx(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, err = fn(tx)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// setClause builds the "col = $n, …" list of an UPDATE statement; args holds
// the values in placeholder order.
type setClause struct {
	cols []string
	args []any
}

// set adds col = v.
func (sc *setClause) set(col string, v any) {
	sc.args = append(sc.args, v)
	sc.cols = append(sc.cols, fmt.Sprintf("%s = $%d", col, len(sc.args)))
}

// empty reports whether no column was set.
func (sc *setClause) empty() bool { return len(sc.cols) == 0 }

// update is `UPDATE table SET <cols>, updated_at = now() WHERE id = $n` and
// its arguments (the clause's values, then id).
func (sc *setClause) update(table, id string) (string, []any) {
	sets := append(append([]string(nil), sc.cols...), "updated_at = now()")
	args := append(append([]any(nil), sc.args...), id)
	return `UPDATE ` + table + ` SET ` + strings.Join(sets, ", ") + ` WHERE id = $` + fmt.Sprint(len(args)), args
}

// childTable describes one nested entity table whose rows scan into T.
type childTable[T any] struct {
	sb       sibling // table, parent column and display-order handling
	columns  string  // the SELECT list that scans into T
	notFound string  // NOT_FOUND message for an unknown id, e.g. "Add-on not found"
	// lockParent locks the parent row (and through it the product) against
	// concurrent admin writes; NOT_FOUND when the parent is absent.
	lockParent func(ctx context.Context, tx sqlx.ExtContext, parentID string) error
	// byParent loads the children of parents in display order.
	byParent func(ctx context.Context, q sqlx.QueryerContext, parentIDs []string) (map[string][]T, error)
}

// get reads the row id.
func (c childTable[T]) get(ctx context.Context, tx sqlx.QueryerContext, id string) (*T, error) {
	var row T
	if err := sqlx.GetContext(ctx, tx, &row, `SELECT `+c.columns+` FROM `+c.sb.table+` WHERE id = $1`, id); err != nil {
		return nil, err
	}
	return &row, nil
}

// lock reads the row id for update after locking its parent, and returns it
// with its parent id; NOT_FOUND c.notFound for an unknown (or non-UUID) id.
func (c childTable[T]) lock(ctx context.Context, tx sqlx.ExtContext, id string) (*T, string, error) {
	if !validUUID(id) {
		return nil, "", &Error{Code: CodeNotFound, Message: c.notFound}
	}
	var parentID string
	if err := sqlx.GetContext(ctx, tx, &parentID, `SELECT `+c.sb.parentCol+` FROM `+c.sb.table+` WHERE id = $1`, id); err != nil {
		return nil, "", notFound(err, c.notFound)
	}
	if err := c.lockParent(ctx, tx, parentID); err != nil {
		return nil, "", err
	}
	// Under the parent lock the row cannot have moved, but it may have been
	// deleted (or changed) by a writer that held the lock before us.
	var row T
	if err := sqlx.GetContext(ctx, tx, &row, `SELECT `+c.columns+` FROM `+c.sb.table+` WHERE id = $1 FOR UPDATE`, id); err != nil {
		return nil, "", notFound(err, c.notFound)
	}
	return &row, parentID, nil
}

// insert adds a child to parentID, whose lock the caller holds, at position
// at (nil appends) and returns it as stored. insertSQL must return the new
// id; its placeholders are $1 the parent id, then values in order, then the
// display order last.
func (c childTable[T]) insert(ctx context.Context, tx sqlx.ExtContext, parentID string, at *int, insertSQL string, values ...any) (*T, error) {
	pos, err := c.sb.insertPosition(ctx, tx, parentID, at)
	if err != nil {
		return nil, err
	}
	args := append(append([]any{parentID}, values...), pos)
	var id string
	if err := sqlx.GetContext(ctx, tx, &id, insertSQL, args...); err != nil {
		return nil, mapError(err)
	}
	if at != nil {
		if err := c.sb.placeAt(ctx, tx, parentID, id, pos); err != nil {
			return nil, err
		}
	}
	return c.get(ctx, tx, id)
}

// update changes the child id under its parent's lock: merge applies the
// update to the current row (it may run statements of its own in tx) and
// sets every column to write; update writes them with updated_at = now(),
// moves the child to position at when given, and returns it as stored.
func (c childTable[T]) update(ctx context.Context, tx sqlx.ExtContext, id string, at *int, merge func(cur *T, sc *setClause) error) (*T, error) {
	cur, parentID, err := c.lock(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	var sc setClause
	if err := merge(cur, &sc); err != nil {
		return nil, err
	}
	q, args := sc.update(c.sb.table, id)
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return nil, mapError(err)
	}
	if at != nil {
		if err := c.sb.placeAt(ctx, tx, parentID, id, *at); err != nil {
			return nil, err
		}
	}
	return c.get(ctx, tx, id)
}

// delete deletes the child id under its parent's lock and returns it as it
// was; NOT_FOUND c.notFound.
func (c childTable[T]) delete(ctx context.Context, tx sqlx.ExtContext, id string) (*T, error) {
	if _, _, err := c.lock(ctx, tx, id); err != nil {
		return nil, err
	}
	var row T
	if err := sqlx.GetContext(ctx, tx, &row, `DELETE FROM `+c.sb.table+` WHERE id = $1 RETURNING `+c.columns, id); err != nil {
		return nil, mapError(err)
	}
	return &row, nil
}

// reorder locks parentID, sets its children's display order to the order of
// ids (exactly its children; BAD_USER_INPUT on "ids.N"/"ids", see
// sibling.reorder) and returns them in their new order.
func (c childTable[T]) reorder(ctx context.Context, tx sqlx.ExtContext, parentID string, ids []string) ([]T, error) {
	if err := c.lockParent(ctx, tx, parentID); err != nil {
		return nil, err
	}
	if err := c.sb.reorder(ctx, tx, parentID, ids); err != nil {
		return nil, err
	}
	m, err := c.byParent(ctx, tx, []string{parentID})
	return m[parentID], err
}

// setOr sets col to the update's value v when it is given (non-nil) and to
// the current value otherwise; *cur is left as written.
func setOr[V any](sc *setClause, col string, cur *V, v *V) {
	if v != nil {
		*cur = *v
	}
	sc.set(col, *cur)
}

// setOrNullable is setOr for a nullable column: v.Set writes v.Value (nil
// clears the column), !v.Set keeps the current value.
func setOrNullable[V any](sc *setClause, col string, cur **V, v Nullable[V]) {
	if v.Set {
		*cur = v.Value
	}
	sc.set(col, *cur)
}
