package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/migrations"
)

// migrateCommand is `assetanchor migrate up|down [N]|version`.
func migrateCommand(op string) runFunc {
	return func(ctx context.Context, in invocation) (err error) {
		steps := 0
		if op == "down" && len(in.args) == 1 {
			if steps, err = strconv.Atoi(in.args[0]); err != nil || steps < 1 {
				return usageError("migrate down N needs a positive number of migrations, not " + in.args[0])
			}
		}
		return migrate(ctx, in.cfg, op, steps, in.stdout, in.stderr)
	}
}

func migrate(ctx context.Context, cfg config, op string, steps int, stdout, stderr io.Writer) (err error) {
	db, err := openDatabase(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.close(); err == nil {
			err = cerr
		}
	}()
	m, err := migrations.Open(db.direct) // migrations hold a session lock
	if err != nil {
		return err
	}
	defer m.Close()
	switch op {
	case "up":
		err = m.Up()
	case "down":
		err = m.Down(steps)
	}
	if err != nil {
		return err
	}
	version, dirty, err := m.Version()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema version %d (dirty: %v)\n", version, dirty)
	return nil
}

// createAdminCommand is `assetanchor users create-admin --email E --password P`.
func createAdminCommand(fs *flag.FlagSet) runFunc {
	email := fs.String("email", "", "email address `E` of the administrator")
	password := fs.String("password", "", "password `P` of the administrator, at least 12 characters")
	return func(ctx context.Context, in invocation) error {
		if *email == "" || *password == "" {
			return usageError("users create-admin needs --email E --password P")
		}
		return withApp(ctx, in.cfg, in.stderr, func(a *app, _ *pgxpool.Pool) error {
			res, err := a.users.Create(ctx, commands.CreateUser{Email: *email, Password: *password, Role: domain.RoleAdmin.String()})
			if err != nil {
				return fmt.Errorf("create administrator: %w", inputError(err, map[string]string{"email": "--email", "password": "--password"}))
			}
			fmt.Fprintf(in.stdout, "administrator %s created with id %s\n", *email, res.ID)
			return nil
		})
	}
}

// inputError turns a validation error about the given fields into a usage error
// naming where each came from (a flag, a variable) rather than a field name.
func inputError(err error, names map[string]string) error {
	var invalid *domain.ValidationError
	if !errors.As(err, &invalid) {
		return err
	}
	parts := make([]string, len(invalid.Fields))
	for i, f := range invalid.Fields {
		name, ok := names[f.Field]
		if !ok {
			return err
		}
		parts[i] = name + " " + f.Message
	}
	return usageError(strings.Join(parts, "; "))
}
