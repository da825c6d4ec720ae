package statetest

import (
	"go/parser"
	"go/token"
	"slices"
	"testing"
)

// TestConstsIn: the string constants of the named type, in every const
// block, and nothing else.
func TestConstsIn(t *testing.T) {
	src := `package p
type Status string
type Other string
const (
	A Status = "a"
	B Status = "b"
	X Other = "x"
	N = 3
)
const C Status = "c"
`
	f, err := parser.ParseFile(token.NewFileSet(), "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := constsIn(f, "Status"); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("constsIn = %v, want a b c", got)
	}
}
