package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
)

// TestREADMETablesRender parses the README as GitHub-flavoured Markdown and
// fails when a block that looks like a pipe table would not render as one on
// GitHub, which shows a paragraph full of pipes instead.
func TestREADMETablesRender(t *testing.T) {
	t.Parallel()
	for _, p := range tableProblems([]byte(readREADME(t))) {
		t.Errorf("README: %s", p)
	}
}

func TestTableProblems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		md   string
		want int // problems found
	}{
		{"table", "| a | b |\n|---|---|\n| 1 | 2 |\n", 0},
		{"escaped pipe", "| a | b |\n|---|---|\n| `x\\|y` | 2 |\n", 0},
		{"two tables", "| a |\n|---|\n\ntext\n\n| b |\n|---|\n| 1 |\n", 0},
		{"pipes in code", "```\n| a |\n|---|---|\n```\n", 0},
		{"indented code", "text\n\n    | a |\n    |---|---|\n", 0},
		{"delimiter with more cells", "| a | b |\n|---|---|---|\n| 1 | 2 |\n", 1},
		{"delimiter with fewer cells", "| a | b | c |\n|---|---|\n", 1},
		{"no delimiter", "| a | b |\n| 1 | 2 |\n", 1},
		{"broken delimiter", "| a | b |\n|---|-x-|\n", 1},
	}
	for _, tt := range tests {
		if got := tableProblems([]byte(tt.md)); len(got) != tt.want {
			t.Errorf("%s: tableProblems = %q, want %d problems", tt.name, got, tt.want)
		}
	}
}

// tableProblems lists what keeps the pipe tables of a Markdown document
// from rendering on GitHub. goldmark's table extension finds the tables and
// the code blocks; it is more lenient than GitHub, which renders no table at
// all when the header and delimiter rows have different numbers of cells, so
// that rule is checked here. Every line outside code that starts with "|"
// must be a row of a table.
func tableProblems(src []byte) []string {
	lines := strings.Split(string(src), "\n")
	lineOf := func(offset int) int { return bytes.Count(src[:offset], []byte("\n")) }
	doc := goldmark.New(goldmark.WithExtensions(extension.Table)).Parser().Parse(text.NewReader(src))
	var problems []string
	inCode := map[int]bool{}
	rows := 0 // of every table, delimiter rows included
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *east.Table:
			rows++ // the delimiter row
			if h := firstLine(n, lineOf); h >= 0 && h+1 < len(lines) {
				if hc, dc := pipeCells(lines[h]), pipeCells(lines[h+1]); hc != dc {
					problems = append(problems, fmt.Sprintf("line %d: the table's header row has %d cells, its delimiter row %d", h+1, hc, dc))
				}
			}
		case *east.TableHeader, *east.TableRow:
			rows++
		case *ast.FencedCodeBlock, *ast.CodeBlock:
			ls := n.Lines()
			for i := 0; i < ls.Len(); i++ {
				inCode[lineOf(ls.At(i).Start)] = true
			}
		}
		return ast.WalkContinue, nil
	})
	pipeLines := 0
	for i, line := range lines {
		if !inCode[i] && strings.HasPrefix(line, "|") {
			pipeLines++
		}
	}
	if rows != pipeLines {
		problems = append(problems, fmt.Sprintf("%d lines outside code start with |, but the tables have %d rows: a table does not render", pipeLines, rows))
	}
	return problems
}

// firstLine returns the source line of the first text under n, or -1.
func firstLine(n ast.Node, lineOf func(int) int) int {
	line := -1
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if t, ok := c.(*ast.Text); ok && entering {
			line = lineOf(t.Segment.Start)
			return ast.WalkStop, nil
		}
		return ast.WalkContinue, nil
	})
	return line
}

// pipeCells counts the cells of a table row as GFM splits it: at every
// pipe not escaped with a backslash, leading and trailing pipes optional.
func pipeCells(row string) int {
	row = strings.TrimSpace(row)
	row = strings.TrimPrefix(row, "|")
	if strings.HasSuffix(row, "|") && !strings.HasSuffix(row, `\|`) {
		row = strings.TrimSuffix(row, "|")
	}
	cells := 1
	for i := 0; i < len(row); i++ {
		switch row[i] {
		case '\\':
			i++
		case '|':
			cells++
		}
	}
	return cells
}
