package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"authsvc/api"
	"authsvc/internal/users"
)

// maxImportLine bounds one line of an import file: a user's fields at their
// longest, even with every character escaped, fit many times over.
const maxImportLine = 1 << 20

// importItem is a parsed line: a user, or why the line is not one.
type importItem struct {
	line int
	user users.CreateParams
	err  error // the line is not a JSON object of api.NewUser
}

// importBatch is up to users.MaxImport items, then possibly the error that
// ended the reading.
type importBatch struct {
	items []importItem
	err   error
}

// userImport implements "authsvc user import FILE". It imports the users in
// batches of users.MaxImport, each in one transaction, and prints the result
// of every line of a batch as soon as the batch is committed: a printed
// "created" is durable. A line that is not a valid user is reported as
// invalid and does not stop the import; the command then exits with status 1.
func userImport(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	f := newDBFlags("user import", "user import [flags] FILE|-", withJSON|withCreate, getenv, stderr)
	pos, err := f.parse(args, 1)
	if err != nil {
		return err
	}
	in := stdin
	if pos[0] != "-" {
		file, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer file.Close()
		in = file
	}
	db, store, err := f.openStore(ctx)
	if err != nil {
		return err
	}
	defer db.Close()

	// Reading runs ahead on its own goroutine, parsing the next batch while
	// this one commits, and so that a cancel is not stuck behind a read from
	// a terminal or a pipe. (A read that never returns keeps its goroutine
	// until the process ends.)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan importBatch)
	go readImport(ctx, in, batches)

	out := &importPrinter{w: stdout, json: f.json}
	for {
		var b importBatch
		var ok bool
		select {
		case <-ctx.Done():
			return fmt.Errorf("user import: %w", ctx.Err())
		case b, ok = <-batches:
		}
		if !ok {
			break
		}
		if len(b.items) > 0 {
			if err := importBatchOf(ctx, store, b.items, out); err != nil {
				return err
			}
		}
		if b.err != nil {
			out.summary()
			return fmt.Errorf("user import: %w", b.err)
		}
	}
	if err := out.summary(); err != nil {
		return err
	}
	if out.invalid > 0 {
		return fmt.Errorf("user import: %d invalid line(s)", out.invalid)
	}
	return nil
}

// readImport parses r into batches of users.MaxImport items and sends them,
// closing the channel at the end of r.
func readImport(ctx context.Context, r io.Reader, batches chan<- importBatch) {
	defer close(batches)
	send := func(b importBatch) bool {
		select {
		case batches <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxImportLine)
	var items []importItem
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		items = append(items, parseImportLine(line, text))
		if len(items) == users.MaxImport {
			if !send(importBatch{items: items}) {
				return
			}
			items = nil
		}
	}
	var err error
	if err = sc.Err(); err != nil {
		err = fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(items) > 0 || err != nil {
		send(importBatch{items: items, err: err})
	}
}

// parseImportLine reads one line as the API reads a user to create: with
// api.Strict, so a line the API would refuse (a name in another case, a
// name twice, invalid UTF-8, a null, an unknown field, trailing data) is
// invalid here too.
func parseImportLine(line int, text []byte) importItem {
	var l api.NewUser
	if err := json.Unmarshal(text, &l, api.Strict); err != nil {
		return importItem{line: line, err: fmt.Errorf("not a JSON object of userID, userName, password, avatarURL, extendedData: %s",
			describeJSONError(err))}
	}
	var id string
	if l.UserID != nil {
		id = *l.UserID
	}
	return importItem{line: line, user: users.CreateParams{ID: id, Name: l.UserName, Password: l.Password,
		AvatarURL: l.AvatarURL, ExtendedData: l.ExtendedData}}
}

// describeJSONError says what is wrong with a line without quoting it: the
// decoder's own text may hold part of the input, a password perhaps.
func describeJSONError(err error) string {
	var (
		syn *jsontext.SyntacticError
		sem *json.SemanticError
	)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "truncated JSON"
	case errors.As(err, &syn) && errors.Is(syn.Err, jsontext.ErrDuplicateName):
		return fmt.Sprintf("duplicate field %q", syn.JSONPointer.LastToken())
	case errors.As(err, &syn):
		// The library exports no UTF-8 sentinel.
		if msg := syn.Err.Error(); strings.Contains(msg, "UTF-8") || strings.Contains(msg, "surrogate") {
			return fmt.Sprintf("invalid UTF-8 or a lone surrogate escape at byte %d", syn.ByteOffset)
		}
		return fmt.Sprintf("malformed JSON, or more than one JSON value, at byte %d", syn.ByteOffset)
	case errors.As(err, &sem) && errors.Is(sem.Err, json.ErrUnknownName):
		return fmt.Sprintf("unknown field %q", sem.JSONPointer.LastToken())
	case errors.As(err, &sem) && errors.Is(sem.Err, api.ErrNull) && sem.JSONPointer == "":
		return "null instead of an object"
	case errors.As(err, &sem) && errors.Is(sem.Err, api.ErrNull):
		return fmt.Sprintf("%s must not be null", sem.JSONPointer.LastToken())
	case errors.As(err, &sem) && sem.JSONPointer == "":
		return "not an object"
	case errors.As(err, &sem):
		return fmt.Sprintf("%s must be a string", sem.JSONPointer.LastToken())
	}
	return "malformed JSON"
}

// importBatchOf imports the users of items in one transaction and then
// prints the result of every item.
func importBatchOf(ctx context.Context, store *users.Store, items []importItem, out *importPrinter) error {
	var nus []users.CreateParams
	for _, it := range items {
		if it.err == nil {
			nus = append(nus, it.user)
		}
	}
	results, err := store.Import(ctx, nus)
	if err != nil {
		return fmt.Errorf("user import: lines %d to %d: %w", items[0].line, items[len(items)-1].line, err)
	}
	for _, it := range items {
		if it.err != nil {
			out.item(it.line, users.ImportResult{Status: users.ImportInvalid, Err: it.err})
			continue
		}
		out.item(it.line, results[0])
		results = results[1:]
	}
	return out.flush()
}

// importPrinter prints import results, as a table or as JSON Lines, and
// counts them.
type importPrinter struct {
	w                        io.Writer
	json                     bool
	tw                       *tabwriter.Writer
	created, exists, invalid int
}

// importProblem is one reason a line is invalid.
type importProblem struct {
	Field   string `json:"field,omitempty"`
	Code    string `json:"code"`
	Rule    string `json:"rule,omitempty"`
	Offset  *int   `json:"offset,omitempty"`
	Message string `json:"message"`
}

func (p *importPrinter) item(line int, r users.ImportResult) {
	switch r.Status {
	case users.ImportCreated:
		p.created++
	case users.ImportExists:
		p.exists++
	case users.ImportInvalid:
		p.invalid++
	}
	problems := importProblems(r.Err)
	if p.json {
		writeJSON(p.w, struct {
			Line   int             `json:"line"`
			UserID string          `json:"userID"`
			Status string          `json:"status"`
			Errors []importProblem `json:"errors,omitempty"`
		}{line, r.ID, string(r.Status), problems})
		return
	}
	if p.tw == nil {
		p.tw = tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(p.tw, "LINE\tUSER ID\tSTATUS\tREASON")
	}
	reason := ""
	for i, pr := range problems {
		if i > 0 {
			reason += "; "
		}
		reason += pr.Message
	}
	fmt.Fprintf(p.tw, "%d\t%s\t%s\t%s\n", line, cell(r.ID), r.Status, cell(reason))
}

// importProblems lists why an item is invalid.
func importProblems(err error) []importProblem {
	if err == nil {
		return nil
	}
	var ie *users.InvalidError
	if !errors.As(err, &ie) {
		return []importProblem{{Code: "invalid_json", Message: err.Error()}}
	}
	ps := make([]importProblem, len(ie.Fields))
	for i, f := range ie.Fields {
		ps[i] = importProblem{Field: f.Field, Code: f.Code, Rule: f.Rule, Message: f.Message}
		if f.Offset >= 0 {
			ps[i].Offset = &f.Offset
		}
	}
	return ps
}

// flush writes out what the table holds so far.
func (p *importPrinter) flush() error {
	if p.tw == nil {
		return nil
	}
	return p.tw.Flush()
}

func (p *importPrinter) summary() error {
	if p.json {
		return writeJSON(p.w, map[string]map[string]int{
			"summary": {"created": p.created, "exists": p.exists, "invalid": p.invalid},
		})
	}
	_, err := fmt.Fprintf(p.w, "%d created, %d existed, %d invalid\n", p.created, p.exists, p.invalid)
	return err
}
