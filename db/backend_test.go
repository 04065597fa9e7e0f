package db

import (
	"path/filepath"
	"testing"

	"chatd/internal/pgtest"
)

// The PostgreSQL runs share one server per test binary; it stops when the
// tests end.
func TestMain(m *testing.M) { pgtest.Main(m) }

// backends are the stores every Store test runs against.
var backends = []string{"sqlite", "postgres"}

// eachBackend runs f once per backend, as the subtests sqlite and postgres;
// openTest inside f opens a store of that kind.
func eachBackend(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	pgtest.EachBackend(t, f)
}

// backendOf is the backend of the eachBackend subtest t runs in (t itself
// or one of its own subtests); "sqlite" outside eachBackend.
func backendOf(t testing.TB) string {
	if pgtest.IsPostgres(t) {
		return "postgres"
	}
	return "sqlite"
}

// openPG opens the PostgreSQL database at url and closes it when the test
// ends.
func openPG(t testing.TB, url string) *DB {
	t.Helper()
	db, err := OpenPostgres(url)
	if err != nil {
		t.Fatalf("OpenPostgres: %v\n%s", err, pgtest.Log())
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// openTwo opens two handles on one fresh database of the backend t runs
// under: two processes on one SQLite file, or two nodes on one PostgreSQL
// database.
func openTwo(t *testing.T) (*DB, *DB) {
	t.Helper()
	if backendOf(t) == "postgres" {
		url := pgtest.URL(t)
		return openPG(t, url), openPG(t, url)
	}
	path := filepath.Join(t.TempDir(), "chatd.db")
	return openAt(t, path), openAt(t, path)
}
