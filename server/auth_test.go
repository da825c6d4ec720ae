package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/paygate/paygate/server"
)

func TestRequire(t *testing.T) {
	keys := server.Keys{Marketplace: "mk", Finance: "fk"}
	srv := server.New(server.Config{})
	srv.Router().Handle("/market", keys.Require(server.RoleMarketplace)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server.WriteJSON(w, 200, map[string]string{"role": string(server.CallerRole(r.Context()))})
	})))
	srv.Router().Handle("/both", keys.Require(server.RoleMarketplace, server.RoleFinance)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server.WriteJSON(w, 200, map[string]string{"role": string(server.CallerRole(r.Context()))})
	})))
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	tests := []struct {
		path, auth string
		status     int
		code, role string
	}{
		{"/market", "", 401, "unauthorized", ""},
		{"/market", "Bearer", 401, "unauthorized", ""},
		{"/market", "Basic bWs6", 401, "unauthorized", ""},
		{"/market", "Bearer nope", 401, "unauthorized", ""},
		{"/market", "Bearer mk", 200, "", "marketplace"},
		{"/market", "Bearer fk", 403, "forbidden", ""},
		{"/both", "Bearer fk", 200, "", "finance"},
		{"/both", "Bearer mk", 200, "", "marketplace"},
		// The scheme's name is case-insensitive (RFC 9110, 11.1).
		{"/market", "bearer mk", 200, "", "marketplace"},
		{"/market", "BEARER mk", 200, "", "marketplace"},
		{"/both", "bEaReR fk", 200, "", "finance"},
		{"/market", "Bearer  mk", 200, "", "marketplace"},
		{"/market", "Bearer mk fk", 401, "unauthorized", ""},
		{"/market", "Bearerx mk", 401, "unauthorized", ""},
		{"/market", "bearer", 401, "unauthorized", ""},
	}
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.auth, func(t *testing.T) {
			req, _ := http.NewRequest("GET", ts.URL+tt.path, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Role  string `json:"role"`
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != tt.status || body.Error.Code != tt.code || body.Role != tt.role {
				t.Fatalf("GET %s with %q = %d %+v, want %d code %q role %q", tt.path, tt.auth, resp.StatusCode, body, tt.status, tt.code, tt.role)
			}
		})
	}
	// A key given by its hash only works as the plain key does.
	hashed := server.Keys{MarketplaceSHA256: server.HashKey("mk"), FinanceSHA256: server.HashKey("fk")}
	for _, tt := range []struct {
		key  string
		ok   bool
		role server.Role
	}{{"mk", true, server.RoleMarketplace}, {"fk", true, server.RoleFinance}, {"MK", false, ""}, {"", false, ""}} {
		c, ok, err := hashed.Authenticate(context.Background(), tt.key)
		if err != nil || ok != tt.ok || c.Role != tt.role {
			t.Errorf("Authenticate(%q) = %+v, %v, %v; want %q, %v", tt.key, c, ok, err, tt.role, tt.ok)
		}
	}
	// An empty configured key never matches an empty presented one.
	empty := server.Keys{Marketplace: "mk"}
	srv2 := server.New(server.Config{})
	srv2.Router().Handle("/f", empty.Require(server.RoleFinance)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})))
	ts2 := httptest.NewServer(srv2.Handler())
	defer ts2.Close()
	req, _ := http.NewRequest("GET", ts2.URL+"/f", nil)
	req.Header.Set("Authorization", "Bearer ")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("empty bearer = %d, want 401", resp.StatusCode)
	}
}
