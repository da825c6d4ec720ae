package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/paygate/paygate/apikey"
	"github.com/paygate/paygate/server"
)

const keysUsage = `Usage:
  paygate keys create --role marketplace|finance --name NAME [--scope read|payments|full]
                                                               issue a key; it is printed once
  paygate keys list                                            every key, without secrets
  paygate keys revoke ID                                       revoke a key (running servers refuse it within 5s)
`

// keys runs "paygate keys create|list|revoke".
func keys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		io.WriteString(stderr, keysUsage)
		return exitError
	}
	var c config
	fs := newFlags("keys "+args[0], stderr)
	c.dbFlag(fs, getenv)
	c.createFlag(fs)
	role := fs.String("role", "", "the key's role: marketplace or finance (create)")
	name := fs.String("name", "", "the key's name, such as the host or person using it (create)")
	scope := fs.String("scope", string(server.ScopeFull), "what the key may do: read (GET only), payments (marketplace: create payment orders and attempts, no balance payments), full (create)")
	var id string
	switch args[0] {
	case "create", "list":
		if err := parse(fs, args[1:]); err != nil {
			return exitError
		}
	case "revoke":
		if err := fs.Parse(args[1:]); err != nil {
			return exitError
		}
		if fs.NArg() != 1 {
			io.WriteString(stderr, "paygate keys revoke: give the key's id\n")
			return exitError
		}
		id = fs.Arg(0)
	default:
		io.WriteString(stderr, "paygate keys: unknown command "+fmt.Sprintf("%q", args[0])+"\n\n"+keysUsage)
		return exitError
	}
	db, err := c.openStore(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "paygate keys: %v\n", err)
		return exitError
	}
	defer db.Close()
	store := apikey.New(db)
	switch args[0] {
	case "create":
		token, k, err := store.CreateScoped(ctx, server.Role(*role), server.Scope(*scope), *name)
		if err != nil {
			fmt.Fprintf(stderr, "paygate keys create: %v\n", err)
			return exitError
		}
		fmt.Fprintln(stdout, token)
		fmt.Fprintf(stderr, "paygate keys create: key %s (%s, %s, scope %s) created; it is shown only now\n", k.ID, k.Role, k.Name, k.Scope)
	case "list":
		list, err := store.List(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "paygate keys list: %v\n", err)
			return exitError
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tROLE\tSCOPE\tNAME\tCREATED\tLAST USED\tREVOKED")
		for _, k := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Scope, k.Name, k.CreatedAt.UTC().Format(time.RFC3339), when(k.LastUsedAt), when(k.RevokedAt))
		}
		tw.Flush()
	case "revoke":
		k, err := store.Revoke(ctx, id)
		if err != nil {
			fmt.Fprintf(stderr, "paygate keys revoke: %v\n", err)
			return exitError
		}
		fmt.Fprintf(stdout, "key %s (%s, %s) revoked at %s; running servers refuse it within %s\n",
			k.ID, k.Role, k.Name, k.RevokedAt.Format(time.RFC3339), apikey.CacheTTL)
	}
	return exitOK
}

// when formats an optional time for the key list.
func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
