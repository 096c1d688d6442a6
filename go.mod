module github.com/smplat/smplat

go 1.26.8

require (
	github.com/google/uuid v1.6.0
	github.com/jmoiron/sqlx v1.4.0
	github.com/lib/pq v1.12.3
	github.com/peterldowns/pgtestdb v0.1.1
	github.com/peterldowns/pgtestdb/migrators/sqlmigrator v0.1.1
	github.com/rubenv/sql-migrate v1.8.1
	github.com/shopspring/decimal v1.6.0
)

require (
	github.com/go-gorp/gorp/v3 v3.1.0 // indirect
	github.com/google/go-cmp v0.7.0 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/text v0.43.0 // indirect
)
