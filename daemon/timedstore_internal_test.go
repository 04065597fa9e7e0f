package daemon

import (
	"context"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"chatd"
	"chatd/db"
)

// TestTimedStoreTimesEveryMethod calls every method of chatd.Store through
// the timedStore the server uses, over a real database, and checks that
// each call put exactly one sample into chatd_db_operation_seconds under
// the method's name in snake case. A wrapper that forgets to time, or
// times under another name, fails here; a method with no wrapper at all
// does not compile.
func TestTimedStoreTimesEveryMethod(t *testing.T) {
	store, err := db.Open(filepath.Join(t.TempDir(), "chatd.db"))
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics(&Server{})
	ts := reflect.ValueOf(timedStore{Store: store, m: m})
	// The daemon stores offline mail through StoreOfflineAll; it counts
	// under the name of the single-recipient call.
	alias := map[string]string{"StoreOfflineAll": "store_offline"}

	samples := func() map[string]uint64 {
		t.Helper()
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(m.dbSeconds)
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]uint64{}
		for _, f := range families {
			for _, s := range f.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == "op" {
						out[l.GetValue()] += s.GetHistogram().GetSampleCount()
					}
				}
			}
		}
		return out
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	storeType := reflect.TypeFor[chatd.Store]()
	ctxType := reflect.TypeFor[context.Context]()
	var names []string
	for i := range storeType.NumMethod() {
		if n := storeType.Method(i).Name; n != "Close" {
			names = append(names, n)
		}
	}
	names = append(names, "Close") // last: the others need the database open
	for _, name := range names {
		mt := ts.MethodByName(name).Type()
		args := make([]reflect.Value, mt.NumIn())
		for i := range args {
			if mt.In(i) == ctxType {
				args[i] = reflect.ValueOf(ctx)
			} else {
				args[i] = reflect.Zero(mt.In(i)) // errors are fine: the call is still timed
			}
		}
		before := samples()
		ts.MethodByName(name).Call(args)
		after := samples()

		want := snakeCase(name)
		if a, ok := alias[name]; ok {
			want = a
		}
		var moved []string
		for op, n := range after {
			if n != before[op] {
				moved = append(moved, op)
			}
		}
		if len(moved) != 1 || moved[0] != want || after[want]-before[want] != 1 {
			t.Errorf("%s: want one sample for op %q, got changes in %v (%s: %d -> %d)",
				name, want, moved, want, before[want], after[want])
		}
	}
	// Every write the health check watches is an op that exists.
	seen := samples()
	for op := range watchedWrites {
		if seen[op] == 0 {
			t.Errorf("watchedWrites names op %q, which no store method is timed as", op)
		}
	}
}

// snakeCase turns a method name into its op label: LastActionID ->
// last_action_id.
func snakeCase(name string) string {
	var b strings.Builder
	r := []rune(name)
	for i, c := range r {
		if unicode.IsUpper(c) {
			// A word starts at an upper-case letter that follows a lower-case
			// one, or that ends a run of capitals before a lower-case one.
			if i > 0 && (unicode.IsLower(r[i-1]) || i+1 < len(r) && unicode.IsLower(r[i+1]) && unicode.IsUpper(r[i-1])) {
				b.WriteByte('_')
			}
			c = unicode.ToLower(c)
		}
		b.WriteRune(c)
	}
	return b.String()
}
