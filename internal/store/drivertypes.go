package store

import (
	"database/sql"

	"github.com/jackc/pgx/v5"
)

// The transaction types of River's two drivers.
type (
	pgxTx = pgx.Tx
	sqlTx = *sql.Tx
)
