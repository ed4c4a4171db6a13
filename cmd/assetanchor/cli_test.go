package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// MustDeadEnv changes into an empty directory and returns an environment whose
// DATABASE_URL points at a port nothing listens on and whose data dir does
// not exist yet: any database access fails, and any file written shows up in
// the directory (see MustBeEmpty).
func MustDeadEnv(t *testing.T) (dir string, env func(string) string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	t.Chdir(dir)
	vars := map[string]string{
		"DATABASE_URL":         "postgres://nobody:nothing@" + addr + "/none?sslmode=disable&connect_timeout=5",
		"ASSETANCHOR_DATA_DIR": dir + "/data",
	}
	return dir, func(key string) string { return vars[key] }
}

// MustBeEmpty fails if anything was created in dir.
func MustBeEmpty(t *testing.T, dir string, what string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("%s created %s", what, e.Name())
	}
}

func runCLI(t *testing.T, env func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = run(ctx, args, env, &out, &errOut)
	return out.String(), errOut.String(), err
}

// The environment of these tests really does refuse the database: a command
// run without --help fails on it.
func TestDeadEnvRefusesTheDatabase(t *testing.T) {
	_, env := MustDeadEnv(t)
	_, _, err := runCLI(t, env, "audit", "verify")
	var usage usageError
	if err == nil || errors.As(err, &usage) {
		t.Fatalf("audit verify with nothing listening = %v, want a failure to connect", err)
	}
}

// Every command answers -h and --help, wherever on the line, with its usage,
// flags and an example, exit 0, and does nothing else: no database (there is
// none to reach), no cluster, no file.
func TestEveryCommandAnswersHelp(t *testing.T) {
	for _, c := range commandTable() {
		words := strings.Fields(c.name)
		lines := [][]string{
			append(append([]string{}, words...), "--help"),
			append(append([]string{}, words...), "-h"),
			append([]string{"help"}, words...),
		}
		// After the arguments too: events export FILE --help is help, not an export.
		withArgs := append([]string{}, words...)
		for range max(c.minArgs, 1) {
			withArgs = append(withArgs, "out.ndjson")
		}
		lines = append(lines, append(withArgs, "--help"))
		for _, args := range lines {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				dir, env := MustDeadEnv(t)
				stdout, stderr, err := runCLI(t, env, args...)
				if err != nil {
					t.Fatalf("err = %v, want nil (exit 0); stderr: %s", err, stderr)
				}
				for _, want := range []string{"usage: assetanchor " + c.name, c.summary[1:], "Flags:", "--help", "Example:\n  "} {
					if !strings.Contains(stdout, want) {
						t.Errorf("help lacks %q:\n%s", want, stdout)
					}
				}
				if _, example, _ := strings.Cut(stdout, "Example:\n"); !strings.Contains(example, "assetanchor "+c.name) {
					t.Errorf("the example does not run assetanchor %s:\n%s", c.name, stdout)
				}
				if stderr != "" {
					t.Errorf("help wrote to stderr: %s", stderr)
				}
				MustBeEmpty(t, dir, strings.Join(args, " "))
			})
		}
	}
}

// Each flag a command declares is in its help, with its argument's name.
func TestHelpListsEveryFlag(t *testing.T) {
	for _, c := range []struct{ args, want []string }{
		{[]string{"users", "create-admin"}, []string{"--email E", "--password P"}},
		{[]string{"rent", "post"}, []string{"--through DATE"}},
		{[]string{"history"}, []string{"--as-of T", "--json", "usage: assetanchor history TYPE ID [--as-of T] [--json]"}},
		{[]string{"projections", "rebuild"}, []string{"--all", "usage: assetanchor projections rebuild NAME|--all\n"}},
		{[]string{"keys", "rotate"}, []string{"--new-key BASE64", "usage: assetanchor keys rotate [--new-key BASE64]"}},
	} {
		_, env := MustDeadEnv(t)
		stdout, _, err := runCLI(t, env, append(c.args, "--help")...)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range c.want {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s --help lacks %q:\n%s", strings.Join(c.args, " "), want, stdout)
			}
		}
	}
}

// Groups (migrate, projections, ...) and the top level answer help too, listing
// what the table holds: the usage text cannot drift from the commands.
func TestGroupAndTopLevelHelp(t *testing.T) {
	cmds := commandTable()
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		dir, env := MustDeadEnv(t)
		stdout, stderr, err := runCLI(t, env, args...)
		if err != nil || stderr != "" {
			t.Fatalf("%q = %v, stderr %q; want help and exit 0", args, err, stderr)
		}
		for _, c := range cmds {
			if !strings.Contains(stdout, "  "+usageLine(c)+" ") || !strings.Contains(stdout, c.summary) {
				t.Errorf("%q does not list %s (%s):\n%s", args, usageLine(c), c.summary, stdout)
			}
		}
		for _, v := range environment {
			if !strings.Contains(stdout, v.name) {
				t.Errorf("%q does not list %s", args, v.name)
			}
		}
		MustBeEmpty(t, dir, strings.Join(args, " "))
	}
	for _, group := range groupNames(cmds, "") {
		sub := inGroup(cmds, group)
		if len(sub) == 0 {
			continue
		}
		for _, args := range [][]string{{group, "--help"}, {group, "-h"}, {"help", group}} {
			dir, env := MustDeadEnv(t)
			stdout, _, err := runCLI(t, env, args...)
			if err != nil {
				t.Fatalf("%q = %v, want help and exit 0", args, err)
			}
			if !strings.Contains(stdout, "usage: assetanchor "+group+" COMMAND") || !strings.Contains(stdout, "Example:") {
				t.Errorf("%q:\n%s", args, stdout)
			}
			for _, c := range sub {
				if !strings.Contains(stdout, usageLine(c)) {
					t.Errorf("%q does not list %s:\n%s", args, c.name, stdout)
				}
			}
			MustBeEmpty(t, dir, strings.Join(args, " "))
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		_, env := MustDeadEnv(t)
		stdout, _, err := runCLI(t, env, args...)
		if err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		fields := strings.Fields(stdout)
		if len(fields) < 2 || fields[0] != "assetanchor" || strings.Count(stdout, "\n") != 1 {
			t.Errorf("%q printed %q, want one line: assetanchor VERSION ...", args, stdout)
		}
	}
	// As make build sets it with -ldflags -X main.version=...
	defer func(old string) { version = old }(version)
	version = "v9.8.7"
	_, env := MustDeadEnv(t)
	if stdout, _, err := runCLI(t, env, "--version"); err != nil || !strings.HasPrefix(stdout, "assetanchor v9.8.7") {
		t.Errorf("--version with main.version set = %q, %v; want assetanchor v9.8.7", stdout, err)
	}
}

// A mistake on the command line is exit status 2 with one line naming the help
// to read, and does nothing.
func TestBadUsageNamesTheHelp(t *testing.T) {
	type badCase struct {
		args []string
		want string // in the message
		help string // the help it points to
	}
	var cases []badCase
	for _, c := range commandTable() {
		words := strings.Fields(c.name)
		cases = append(cases, badCase{append(append([]string{}, words...), "--no-such-flag"), "unknown flag --no-such-flag", c.name})
		if c.maxArgs >= 0 {
			args := append([]string{}, words...)
			for range c.maxArgs + 1 {
				args = append(args, "extra")
			}
			cases = append(cases, badCase{args, "unexpected argument extra", c.name})
		}
		if c.minArgs > 0 {
			cases = append(cases, badCase{words, "missing arguments", c.name})
		}
	}
	cases = append(cases,
		badCase{nil, "missing command", ""},
		badCase{[]string{"bogus"}, "unknown command bogus", ""},
		badCase{[]string{"--bogus"}, "unknown flag --bogus", ""},
		badCase{[]string{"migrate"}, "migrate needs a command: one of up, down, version", "migrate"},
		badCase{[]string{"events", "dump"}, "unknown command events dump", "events"},
		badCase{[]string{"help", "bogus"}, "no command bogus", ""},
		badCase{[]string{"rent", "post"}, "needs --through DATE", "rent post"},
		badCase{[]string{"rent", "post", "--through"}, "--through needs a value", "rent post"},
		badCase{[]string{"rent", "post", "--through", "March"}, "--through needs a date such as", "rent post"},
		badCase{[]string{"migrate", "down", "0"}, "positive number", "migrate down"},
		badCase{[]string{"history", "building", "x"}, "unknown entity type building", "history"},
		badCase{[]string{"history", "lease", "x", "--as-of", "yesterday"}, "--as-of needs an RFC 3339 time", "history"},
		badCase{[]string{"projections", "rebuild"}, "needs a projector name", "projections rebuild"},
		badCase{[]string{"projections", "rebuild", "relational", "--all"}, "not both", "projections rebuild"},
		badCase{[]string{"keys", "rotate", "--new-key", "c2hvcnQ="}, "--new-key: the master key must be 32 bytes", "keys rotate"},
	)
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			dir, env := MustDeadEnv(t)
			stdout, stderr, err := runCLI(t, env, c.args...)
			var usage usageError
			if !errors.As(err, &usage) {
				t.Fatalf("err = %v, want a usage error (exit 2)", err)
			}
			msg := err.Error()
			wantHelp := strings.TrimSpace("see assetanchor " + c.help + " --help")
			if c.help == "" {
				wantHelp = "see assetanchor --help"
			}
			if !strings.Contains(msg, c.want) || !strings.HasSuffix(msg, wantHelp) || strings.Contains(msg, "\n") {
				t.Errorf("message %q, want one line with %q ending %q", msg, c.want, wantHelp)
			}
			if stdout != "" || stderr != "" {
				t.Errorf("printed stdout %q, stderr %q; the one line is main's to print", stdout, stderr)
			}
			MustBeEmpty(t, dir, strings.Join(c.args, " "))
		})
	}
}

// Flags stand anywhere among the arguments, and everything after -- is an
// argument, even one that looks like a flag.
func TestParseInterleaved(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		json bool
	}{
		{[]string{"a", "b"}, "a b", false},
		{[]string{"--json", "a", "b"}, "a b", true},
		{[]string{"a", "--json", "b"}, "a b", true},
		{[]string{"a", "b", "--json"}, "a b", true},
		{[]string{"-", "--json"}, "-", true},
		{[]string{"a", "--", "--json"}, "a --json", false},
	} {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		asJSON := fs.Bool("json", false, "")
		got, err := parseInterleaved(fs, c.args)
		if err != nil || strings.Join(got, " ") != c.want || *asJSON != c.json {
			t.Errorf("parseInterleaved(%q) = %q, json %v, %v; want %q, json %v", c.args, got, *asJSON, err, c.want, c.json)
		}
	}
}
