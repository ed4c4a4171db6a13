package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/assetanchor/assetanchor/commands"
	"github.com/assetanchor/assetanchor/domain"
	"github.com/assetanchor/assetanchor/migrations"
)

func migrateCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) (err error) {
	if len(args) == 0 {
		return usageError("migrate needs up, down [N] or version")
	}
	steps := 0
	switch args[0] {
	case "up", "version":
		if len(args) != 1 {
			return usageError("migrate " + args[0] + " takes no arguments")
		}
	case "down":
		if len(args) > 2 {
			return usageError("migrate down takes at most one argument")
		}
		if len(args) == 2 {
			if steps, err = strconv.Atoi(args[1]); err != nil || steps < 1 {
				return usageError("migrate down N needs a positive N")
			}
		}
	default:
		return usageError("migrate needs up, down [N] or version")
	}
	db, err := openDatabase(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := db.close(); err == nil {
			err = cerr
		}
	}()
	m, err := migrations.Open(db.url)
	if err != nil {
		return err
	}
	defer m.Close()
	switch args[0] {
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

func usersCommand(ctx context.Context, cfg config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create-admin" {
		return usageError("users needs create-admin --email E --password P")
	}
	fs := flag.NewFlagSet("users create-admin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "administrator email")
	password := fs.String("password", "", "administrator password (at least 12 characters)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *email == "" || *password == "" {
		return usageError("users create-admin needs --email E --password P")
	}
	return withApp(ctx, cfg, stderr, func(a *app, _ *pgxpool.Pool) error {
		res, err := a.users.Create(ctx, commands.CreateUser{Email: *email, Password: *password, Role: domain.RoleAdmin.String()})
		if err != nil {
			return fmt.Errorf("create administrator: %w", err)
		}
		fmt.Fprintf(stdout, "administrator %s created with id %s\n", *email, res.ID)
		return nil
	})
}
