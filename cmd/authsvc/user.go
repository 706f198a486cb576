package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"authsvc/api"
	"authsvc/internal/apps"
	"authsvc/internal/sqldb"
	"authsvc/internal/users"
)

const userUsage = `Usage: authsvc user <command> [flags] [args]

Manage users directly on the database file (for bootstrap and operations).

Commands:
  add [--user-id ID] [--name NAME] [--avatar-url URL] [--extended-data S] [--password-stdin]
  get ID
  list [--prefix P] [--limit N] [--after CURSOR]
  disable ID
  enable ID
  delete ID
  import FILE    JSON Lines, one user per line with the fields userID,
                 userName, password, avatarURL, extendedData; - reads
                 standard input

Every command takes --db PATH (default $AUTHSVC_DB, else authsvc.db),
--create to make the file when it does not exist (else that is an error),
and --json to print JSON instead of a table. A database whose schema is
older than this binary's is left alone: run 'authsvc migrate' first. Flags
may follow arguments; an ID that starts with '-' goes after '--'.
`

// runUser implements "authsvc user ...".
func runUser(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("user: missing command\nrun 'authsvc user help' for its commands")
	}
	name, args := args[0], args[1:]
	switch name {
	case "add":
		return userAdd(ctx, args, getenv, stdin, stdout, stderr)
	case "get":
		return userGet(ctx, args, getenv, stdout, stderr)
	case "list":
		return userList(ctx, args, getenv, stdout, stderr)
	case "disable", "enable":
		return userSetDisabled(ctx, name, args, getenv, stdout, stderr)
	case "delete":
		return userDelete(ctx, args, getenv, stdout, stderr)
	case "import":
		return userImport(ctx, args, getenv, stdin, stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, userUsage)
		return nil
	default:
		return usageError("user: unknown command %q\nrun 'authsvc user help' for its commands", name)
	}
}

// dbFlags are the flags every command on the database file has.
type dbFlags struct {
	*command
	json      bool
	create    bool
	canCreate bool // the command has --create
}

// dbFlagSet chooses the optional flags of newDBFlags.
type dbFlagSet int

const (
	withJSON   dbFlagSet = 1 << iota // --json
	withCreate                       // --create
)

// newDBFlags returns the flags of "authsvc <cmd>": --db and those of opt.
// usage shows the command's arguments; -h prints the help to w.
func newDBFlags(cmd, usage string, opt dbFlagSet, getenv func(string) string, w io.Writer) *dbFlags {
	f := &dbFlags{command: newCommand(cmd, usage, "", getenv, w)}
	f.twins = true // --db and AUTHSVC_DB
	f.addText("db", "authsvc.db", "database file")
	if f.canCreate = opt&withCreate != 0; f.canCreate {
		f.fs.BoolVar(&f.create, "create", false, "create the database file if it does not exist")
	}
	if opt&withJSON != 0 {
		f.fs.BoolVar(&f.json, "json", false, "print JSON instead of a table")
	}
	return f
}

// parse parses args, allowing flags after the positional arguments, and
// checks that there are exactly nargs of those.
func (f *dbFlags) parse(args []string, nargs int) ([]string, error) {
	pos, err := f.parseFlags(args)
	if err != nil {
		return nil, err
	}
	if len(pos) != nargs {
		return nil, f.usageError("want %d argument(s), got %d", nargs, len(pos))
	}
	return pos, nil
}

// path returns the database file: --db, else $AUTHSVC_DB, else authsvc.db.
func (f *dbFlags) path() string { return f.str("db") }

// open opens the database. It creates a missing file only with --create,
// and migrates only with migrate, so that a mistyped path or an old
// database is an error rather than a new, empty database.
func (f *dbFlags) open(ctx context.Context, migrate bool) (*sqldb.DB, error) {
	db, err := sqldb.OpenWith(ctx, f.path(), sqldb.Options{MustExist: !f.create, NoMigrate: !migrate})
	switch {
	case errors.Is(err, fs.ErrNotExist):
		hint := ""
		if f.canCreate && !f.create {
			hint = "; pass --create to make a new one"
		}
		return nil, f.missing(err, hint)
	case errors.Is(err, sqldb.ErrSchemaTooOld):
		return nil, fmt.Errorf("%w; first run: authsvc migrate --db %s (back it up before)",
			err, shellQuote(redactURL(f.path())))
	case err == nil && db.TrailCreated():
		// As serve warns: only this run knows the file was missing.
		fmt.Fprintf(f.out, "authsvc: created a new, empty audit trail file %s; if the trail was expected there, restore it beside the database\n", db.AuditFile())
	}
	return db, err
}

// missing says that the database file (or its directory) is missing, and
// where its path came from, so that a mistyped --db or AUTHSVC_DB shows.
func (f *dbFlags) missing(err error, hint string) error {
	from := "the default; name the file with --db or AUTHSVC_DB"
	if _, src := f.get("db"); f.explicit("db") {
		from = "from " + src
	}
	return fmt.Errorf("%w (%s)%s", err, from, hint)
}

// openStore opens the database, which must be migrated, and the user store
// on it. The caller closes the database.
func (f *dbFlags) openStore(ctx context.Context) (*sqldb.DB, *users.Store, error) {
	db, err := f.open(ctx, false)
	if err != nil {
		return nil, nil, err
	}
	as, err := f.zimApps()
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	// As serve does: with ZIM sync on, changes are queued for ZIM (the
	// running server sends them) and held to ZIM's limits.
	zs := newZegoStep(db, as)
	store, err := users.NewStore(db, users.Options{Limits: limitsOf(as), OnChange: zs.onChange, OnRevoke: zs.rooms.Revoke})
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, store, nil
}

// zimApps are the apps whose ZIM the user commands keep in step, read from
// the variables serve reads: the apps file's apps, or the single app of
// AUTHSVC_APP_ID when AUTHSVC_ZIM_SYNC is true. Their secrets are not
// needed, the commands only queue the changes, so the secret files are
// not read: an operator who may not read them can still run the commands.
// The token lifetimes an app leaves out are serve's, from the same
// variables, so that a file serve accepts is accepted here.
func (f *dbFlags) zimApps() ([]apps.App, error) {
	if file := f.getenv("AUTHSVC_APPS_FILE"); file != "" {
		var ttl apps.TTLBounds
		serve := serveSettings(flag.NewFlagSet("serve", flag.ContinueOnError), f.getenv)
		for _, d := range []struct {
			name string
			dst  *time.Duration
		}{{"token-ttl", &ttl.Default}, {"token-min-ttl", &ttl.Min}, {"token-max-ttl", &ttl.Max}} {
			st := serve.byName[d.name]
			v := f.getenv(st.Env)
			if v == "" {
				v = st.Default
			}
			var err error
			if *d.dst, err = parseDuration(v); err != nil {
				return nil, fmt.Errorf("%s: %w", st.Env, err)
			}
		}
		set, err := apps.ParseFile(file, apps.FileOptions{
			Defaults:      ttl,
			ParseDuration: parseDuration,
			ReadSecret: func(string) ([]byte, error) {
				return []byte("not-read-0123456789abcdef0123456"), nil // 32 bytes, the length of a ServerSecret
			},
		})
		if err != nil {
			return nil, fmt.Errorf("AUTHSVC_APPS_FILE: %w", err)
		}
		return set.Apps, nil
	}
	if v := f.getenv("AUTHSVC_ZIM_SYNC"); v == "" {
		return nil, nil
	} else if on, err := strconv.ParseBool(v); err != nil {
		return nil, fmt.Errorf("AUTHSVC_ZIM_SYNC: %q is not true or false", v)
	} else if !on {
		return nil, nil
	}
	id, err := strconv.ParseUint(f.getenv("AUTHSVC_APP_ID"), 10, 32)
	if err != nil || id == 0 {
		return nil, errors.New("AUTHSVC_ZIM_SYNC is on: AUTHSVC_APP_ID must name the app whose ZIM receives the changes")
	}
	z := apps.ZIM{Sync: true}
	if v := f.getenv("AUTHSVC_ZIM_EXTRA_MAX_BYTES"); v != "" {
		if z.ExtraMaxBytes, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("AUTHSVC_ZIM_EXTRA_MAX_BYTES: %q is not a number", v)
		}
	}
	return []apps.App{{ID: uint32(id), ZIM: z}}, nil
}

func userAdd(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newDBFlags("user add", "user add [flags]", withJSON|withCreate, getenv, stderr)
	var nu users.CreateParams
	f.fs.StringVar(&nu.ID, "user-id", "", "the userID (default: a new random one)")
	f.fs.StringVar(&nu.Name, "name", "", "the userName (default: the userID)")
	f.fs.StringVar(&nu.AvatarURL, "avatar-url", "", "an http or https URL of the user's avatar")
	f.fs.StringVar(&nu.ExtendedData, "extended-data", "", "free-form data the apps keep with the user")
	passwordStdin := f.fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	// An empty --user-id is most likely an unset shell variable: refuse it
	// rather than create a user with a random ID.
	idGiven := false
	f.fs.Visit(func(fl *flag.Flag) { idGiven = idGiven || fl.Name == "user-id" })
	if idGiven && nu.ID == "" {
		return usageError("user add: --user-id is empty; leave the flag out to have a userID assigned")
	}
	if *passwordStdin {
		p, err := readPasswordLine(stdin)
		if err != nil {
			return err
		}
		nu.Password = p
	}
	db, store, err := f.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	u, err := store.Create(ctx, nu)
	if err != nil {
		return err
	}
	return printUser(stdout, f.json, u)
}

// readPasswordLine reads a password from the first line of r, without its
// line ending.
func readPasswordLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, users.MaxPasswordLen+3)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	if len(line) > users.MaxPasswordLen+2 {
		return "", fmt.Errorf("read password from standard input: longer than %d bytes", users.MaxPasswordLen)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("--password-stdin: standard input has no password")
	}
	return line, nil
}

// onUser runs one of the commands that take a single userID: it parses the
// flags, checks the ID, opens the store and hands them to act.
func onUser(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer,
	act func(f *dbFlags, store *users.Store, id string) error) error {
	f := newDBFlags("user "+name, "user "+name+" [flags] ID", withJSON|withCreate, getenv, stderr)
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	if err := users.ValidateID(pos[0]); err != nil {
		return err
	}
	db, store, err := f.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return act(f, store, pos[0])
}

func userGet(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onUser(ctx, "get", args, getenv, stderr, func(f *dbFlags, store *users.Store, id string) error {
		u, err := store.Get(ctx, id)
		if err != nil {
			return err
		}
		return printUser(stdout, f.json, u)
	})
}

func userList(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	f := newDBFlags("user list", "user list [flags]", withJSON|withCreate, getenv, stderr)
	var o users.ListOptions
	f.fs.StringVar(&o.Prefix, "prefix", "", "only users whose ID starts with this (case-sensitive)")
	f.fs.IntVar(&o.Limit, "limit", users.DefaultListLimit, fmt.Sprintf("page size, 1 to %d", users.MaxListLimit))
	f.fs.StringVar(&o.After, "after", "", "cursor: list users after this ID (the previous page's next)")
	if _, err := f.parse(args, 0); err != nil {
		return err
	}
	if o.Limit < 1 || o.Limit > users.MaxListLimit {
		// 0 would mean the default to the store; here, as in the API, it
		// is a mistake.
		return f.usageError("--limit %d: the page size is 1 to %d", o.Limit, users.MaxListLimit)
	}
	db, store, err := f.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	page, err := store.List(ctx, o)
	if err != nil {
		return err
	}
	if f.json {
		// api.UserList's shape without its total, with userJSON's hasPassword.
		out := struct {
			Users []userJSON `json:"users"`
			Next  string     `json:"next"`
		}{Users: make([]userJSON, len(page.Users)), Next: page.Next}
		for i, u := range page.Users {
			out.Users[i] = toUserJSON(u)
		}
		return writeJSON(stdout, out)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER ID\tNAME\tDISABLED\tPASSWORD\tCREATED")
	for _, u := range page.Users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(u.ID), cell(u.Name), yesNo(u.Disabled), yesNo(u.HasPassword),
			api.FormatTime(u.CreatedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if page.Next != "" {
		fmt.Fprintf(stderr, "more users: authsvc user list --after %s\n", shellQuote(page.Next))
	}
	return nil
}

func userSetDisabled(ctx context.Context, name string, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onUser(ctx, name, args, getenv, stderr, func(f *dbFlags, store *users.Store, id string) error {
		u, err := store.SetDisabled(ctx, id, name == "disable")
		if err != nil {
			return err
		}
		return printUser(stdout, f.json, u)
	})
}

func userDelete(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return onUser(ctx, "delete", args, getenv, stderr, func(f *dbFlags, store *users.Store, id string) error {
		if err := store.Delete(ctx, id); err != nil {
			return err
		}
		if f.json {
			return writeJSON(stdout, struct {
				UserID  string `json:"userID"`
				Deleted bool   `json:"deleted"`
			}{id, true})
		}
		_, err := fmt.Fprintf(stdout, "deleted %s\n", cell(id))
		return err
	})
}

// userJSON is a user as the HTTP API shows it, plus hasPassword, which
// only the operator on the database file sees.
type userJSON struct {
	api.User
	HasPassword bool `json:"hasPassword"`
}

func toUserJSON(u users.User) userJSON {
	return userJSON{User: api.User{UserID: u.ID, UserName: u.Name, AvatarURL: u.AvatarURL, ExtendedData: u.ExtendedData,
		Disabled: u.Disabled, CreatedAt: api.FormatTime(u.CreatedAt), UpdatedAt: api.FormatTime(u.UpdatedAt)},
		HasPassword: u.HasPassword}
}

// printUser prints one user, as a two-column table or as JSON.
func printUser(w io.Writer, asJSON bool, u users.User) error {
	if asJSON {
		return writeJSON(w, toUserJSON(u))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, row := range [][2]string{
		{"userID", cell(u.ID)},
		{"userName", cell(u.Name)},
		{"avatarURL", cell(u.AvatarURL)},
		{"extendedData", cell(u.ExtendedData)},
		{"disabled", yesNo(u.Disabled)},
		{"password", yesNo(u.HasPassword)},
		{"createdAt", api.FormatTime(u.CreatedAt)},
		{"updatedAt", api.FormatTime(u.UpdatedAt)},
	} {
		fmt.Fprintf(tw, "%s\t%s\n", row[0], row[1])
	}
	return tw.Flush()
}

// writeJSON writes v as one line of JSON, leaving <, > and & as they are:
// the output is for scripts, not for HTML.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// cell makes s safe for a table cell on a terminal: a value with control
// characters (extendedData may have newlines, or escape sequences) is
// quoted.
func cell(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// shellQuote quotes a userID for a shell command line, where characters
// such as $, & and ; are special.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
