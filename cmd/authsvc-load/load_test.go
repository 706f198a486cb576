package main

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAssignSessions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode           string
		users, clients int
		want           [][]int // users of each client, in turn
	}{
		{modeToken, 6, 2, [][]int{{0, 2, 4}, {1, 3, 5}}},
		{modeToken, 5, 2, [][]int{{0, 2, 4}, {1, 3}}},
		{modeToken, 2, 5, [][]int{{0}, {1}, {0}, {1}, {0}}},
		{modeToken, 3, 3, [][]int{{0}, {1}, {2}}},
		{modeRenew, 6, 2, [][]int{{0}, {1}}},
		{modeRenew, 2, 3, [][]int{{0}, {1}, {0}}},
	}
	for _, tt := range tests {
		sessions := make([]string, tt.users)
		for i := range sessions {
			sessions[i] = fmt.Sprint(i)
		}
		clients := make([]*client, tt.clients)
		for i := range clients {
			clients[i] = &client{}
		}
		assignSessions(clients, sessions, tt.mode)
		got := make([][]int, len(clients))
		for i, c := range clients {
			for _, s := range c.sessions {
				var n int
				fmt.Sscan(s, &n)
				got[i] = append(got[i], n)
			}
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("assignSessions(%s, %d users, %d clients) mismatch (-want +got):\n%s", tt.mode, tt.users, tt.clients, diff)
		}
	}
}
