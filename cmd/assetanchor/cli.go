package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
)

// The command line is a table (commands, in main.go) read by a small dispatcher
// on the standard flag package rather than spf13/cobra: the binary has a dozen
// leaf commands, and the table gives what cobra would (generated help per
// command and group, flags anywhere on the line, usage errors naming the help
// to read) in about 250 lines with no dependency, while exit statuses and the
// one-line errors of API.md stay ours rather than cobra's defaults.

// command is one leaf of the command line: everything its help shows and what
// it runs, in one place.
type command struct {
	name    string // the words after assetanchor: "events export"
	args    string // positional arguments in the usage line: "FILE|-"
	summary string // one line, for the command list
	help    string // what it does, in more words than summary (optional)
	example string // command lines, one per line
	// minArgs and maxArgs bound the positional arguments (-1: no bound).
	minArgs, maxArgs int
	// setup declares the command's flags on fs and returns what runs once they
	// are parsed (the closure holds the flag values).
	setup func(fs *flag.FlagSet) runFunc
}

// runFunc runs a parsed command.
type runFunc func(ctx context.Context, in invocation) error

// invocation is what a command runs with.
type invocation struct {
	cfg            config
	args           []string // positional arguments, within minArgs and maxArgs
	stdout, stderr io.Writer
}

// noFlags is the setup of a command without flags.
func noFlags(run runFunc) func(*flag.FlagSet) runFunc {
	return func(*flag.FlagSet) runFunc { return run }
}

// usageError is a mistake in the command line or the configuration (exit
// status 2). The dispatcher adds which help to read.
type usageError string

func (e usageError) Error() string { return string(e) }

// version is the release name, set at build time with
// -ldflags "-X main.version=v1.2.3" (the Makefile's VERSION); empty means the
// module version Go stamped into the binary.
var version string

// versionLine is what --version prints: the version, the commit and its time,
// and the Go release, from the build information Go stamps into the binary.
func versionLine() string {
	v, revision, at, modified, goVersion := version, "", "", false, ""
	if info, ok := debug.ReadBuildInfo(); ok {
		goVersion = info.GoVersion
		if v == "" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	var details []string
	if revision != "" {
		details = append(details, "commit "+revision)
	}
	if at != "" {
		details = append(details, at)
	}
	if modified {
		details = append(details, "with uncommitted changes")
	}
	if goVersion != "" {
		details = append(details, goVersion)
	}
	if len(details) == 0 {
		return "assetanchor " + v
	}
	return "assetanchor " + v + " (" + strings.Join(details, ", ") + ")"
}

// dispatch finds the command args name and runs it. -h or --help anywhere
// before a "--", or help COMMAND, prints that command's help and does nothing
// else; a usage error names the help to read.
func dispatch(ctx context.Context, cmds []*command, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("missing command: one of " + strings.Join(groupNames(cmds, ""), ", ") + "; see assetanchor --help")
	}
	switch {
	case isHelpFlag(args[0]):
		return writeTopUsage(stdout, cmds)
	case args[0] == "-version" || args[0] == "--version":
		_, err := fmt.Fprintln(stdout, versionLine())
		return err
	case args[0] == "help":
		return helpCommand(cmds, args[1:], stdout)
	}
	if strings.HasPrefix(args[0], "-") {
		return usageError("unknown flag " + args[0] + "; see assetanchor --help")
	}
	cmd, rest := lookup(cmds, args)
	if cmd == nil {
		if len(args) > 1 && isHelpFlag(args[1]) && len(inGroup(cmds, args[0])) > 0 {
			return writeGroupHelp(stdout, cmds, args[0])
		}
		return groupError(cmds, args)
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as one line; help is ours
	runCmd := cmd.setup(fs)
	positional, err := parseInterleaved(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		return writeCommandHelp(stdout, cmd, fs)
	}
	if err != nil {
		return cmd.usage(flagMessage(err))
	}
	switch {
	case len(positional) < cmd.minArgs:
		return cmd.usage("missing arguments: " + cmd.name + " " + cmd.args)
	case cmd.maxArgs >= 0 && len(positional) > cmd.maxArgs:
		return cmd.usage("unexpected argument " + positional[cmd.maxArgs])
	}
	err = runCmd(ctx, invocation{cfg: loadConfig(getenv), args: positional, stdout: stdout, stderr: stderr})
	var usage usageError
	if errors.As(err, &usage) {
		return cmd.usage(err.Error())
	}
	return err
}

// isHelpFlag reports whether arg asks for help, as the flag package takes it.
func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "--h"
}

// usage is a usage error that names the command's help.
func (c *command) usage(msg string) error {
	return usageError(msg + "; see assetanchor " + c.name + " --help")
}

// lookup finds the command whose name is the longest run of leading words of
// args, and returns the arguments after it.
func lookup(cmds []*command, args []string) (*command, []string) {
	var found *command
	var rest []string
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(words) <= len(args) && slices.Equal(words, args[:len(words)]) &&
			(found == nil || len(words) > len(strings.Fields(found.name))) {
			found, rest = c, args[len(words):]
		}
	}
	return found, rest
}

// groupNames lists, in table order, the distinct words that follow prefix in
// command names ("" for the top level).
func groupNames(cmds []*command, prefix string) []string {
	var names []string
	for _, c := range cmds {
		name, ok := strings.CutPrefix(c.name, prefix)
		if !ok {
			continue
		}
		if word := strings.Fields(name); len(word) > 0 && !slices.Contains(names, word[0]) {
			names = append(names, word[0])
		}
	}
	return names
}

// inGroup lists the commands under a group ("migrate").
func inGroup(cmds []*command, group string) []*command {
	var out []*command
	for _, c := range cmds {
		if strings.HasPrefix(c.name, group+" ") {
			out = append(out, c)
		}
	}
	return out
}

// groupError answers a command line that names no command: a group's help, or
// which subcommand it lacks, or an unknown command.
func groupError(cmds []*command, args []string) error {
	group := args[0]
	if len(inGroup(cmds, group)) == 0 {
		return usageError("unknown command " + group + "; see assetanchor --help")
	}
	subs := strings.Join(groupNames(cmds, group+" "), ", ")
	if len(args) == 1 {
		return usageError(group + " needs a command: one of " + subs + "; see assetanchor " + group + " --help")
	}
	return usageError("unknown command " + group + " " + args[1] + " (one of " + subs + "); see assetanchor " + group + " --help")
}

// helpCommand is `assetanchor help [COMMAND...]`.
func helpCommand(cmds []*command, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return writeTopUsage(stdout, cmds)
	}
	if cmd, rest := lookup(cmds, args); cmd != nil && len(rest) == 0 {
		fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
		cmd.setup(fs)
		return writeCommandHelp(stdout, cmd, fs)
	}
	if len(args) == 1 && len(inGroup(cmds, args[0])) > 0 {
		return writeGroupHelp(stdout, cmds, args[0])
	}
	return usageError("no command " + strings.Join(args, " ") + "; see assetanchor --help")
}

// parseInterleaved parses flags wherever they stand among the positional
// arguments (history TYPE ID --json), as the flag package alone does not;
// everything after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		left := fs.Args()
		if len(left) == 0 {
			return positional, nil
		}
		if consumed := len(args) - len(left); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, left...), nil
		}
		positional = append(positional, left[0])
		args = left[1:]
	}
}

// flagMessage turns the flag package's error into the command line's words.
func flagMessage(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + strings.TrimPrefix(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "--" + strings.TrimPrefix(name, "-") + " needs a value"
	}
	return msg
}

// writeTopUsage writes assetanchor --help: every command from the table.
func writeTopUsage(w io.Writer, cmds []*command) error {
	var b strings.Builder
	b.WriteString("usage: assetanchor COMMAND [ARGUMENTS] [FLAGS]\n\nThe Asset Anchor server and its operator tools.\n\nCommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", usageLine(c), c.summary)
	}
	fmt.Fprintf(tw, "  help [COMMAND]\tthis text, or a command's usage, flags and example\n")
	tw.Flush() //nolint:errcheck // a strings.Builder does not fail
	b.WriteString("\nFlags:\n  -h, --help     this text\n  --version      the build's version\n")
	b.WriteString("\nConfiguration comes from the environment:\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, v := range environment {
		fmt.Fprintf(tw, "  %s\t%s\n", v.name, v.meaning)
	}
	tw.Flush() //nolint:errcheck // a strings.Builder does not fail
	b.WriteString("\nRun assetanchor COMMAND --help for a command's flags and an example.\n" +
		"Exit status: 0 success, 1 failure (one line on stderr), 2 bad usage.\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeGroupHelp writes assetanchor GROUP --help: the group's commands.
func writeGroupHelp(w io.Writer, cmds []*command, group string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: assetanchor %s COMMAND\n\nCommands:\n", group)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	var example string
	for _, c := range inGroup(cmds, group) {
		fmt.Fprintf(tw, "  %s\t%s\n", usageLine(c), c.summary)
		if example == "" {
			example = c.example
		}
	}
	tw.Flush() //nolint:errcheck // a strings.Builder does not fail
	fmt.Fprintf(&b, "\nExample:\n%s\nRun assetanchor %s COMMAND --help for a command's flags.\n", indent(example), group)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeCommandHelp writes assetanchor COMMAND --help: usage, what it does,
// flags and an example.
func writeCommandHelp(w io.Writer, c *command, fs *flag.FlagSet) error {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: assetanchor %s\n\n%s%s\n", usageLine(c), strings.ToUpper(c.summary[:1]), c.summary[1:])
	if c.help != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(c.help))
	}
	b.WriteString("\nFlags:\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += " (default " + f.DefValue + ")"
		}
		fmt.Fprintf(tw, "  %s\t%s\n", name, usage)
	})
	fmt.Fprintf(tw, "  -h, --help\tthis text\n")
	tw.Flush() //nolint:errcheck // a strings.Builder does not fail
	fmt.Fprintf(&b, "\nExample:\n%s", indent(c.example))
	_, err := io.WriteString(w, b.String())
	return err
}

// usageLine is the command with its arguments and the flags they do not name.
func usageLine(c *command) string {
	line := c.name
	if c.args != "" {
		line += " " + c.args
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.setup(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if strings.Contains(c.args, "--"+f.Name) {
			return
		}
		if arg, _ := flag.UnquoteUsage(f); arg != "" {
			line += " [--" + f.Name + " " + arg + "]"
		} else {
			line += " [--" + f.Name + "]"
		}
	})
	return line
}

func indent(lines string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSpace(lines), "\n") {
		b.WriteString("  " + strings.TrimSpace(l) + "\n")
	}
	return b.String()
}
