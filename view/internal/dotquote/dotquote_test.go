package dotquote

import "testing"

func TestID(t *testing.T) {
	for in, want := range map[string]string{
		"plain":      `"plain"`,
		`say "hi"`:   `"say \"hi\""`,
		`ends with\`: `"ends with\x5c"`,
		"tab\there":  `"tab\x09here"`,
		"bad\xffutf": "\"bad\uFFFDutf\"",
	} {
		if got := ID(in); got != want {
			t.Errorf("ID(%q) = %s, want %s", in, got, want)
		}
	}
	// One-to-one: a name that spells another's escape stays distinct.
	if ID(`a\`) == ID(`a\x5c`) {
		t.Error(`ID(a\) == ID(a\x5c)`)
	}
}

func TestLabel(t *testing.T) {
	for _, c := range []struct {
		lines []string
		want  string
	}{
		{[]string{"node", "abc123"}, `"node\nabc123"`},
		{[]string{`q"uote`}, `"q\"uote"`},
		{[]string{`back\`}, `"back\\ "`},
		{[]string{"ctl\x01"}, "\"ctl\uFFFD\""},
	} {
		if got := Label(c.lines...); got != c.want {
			t.Errorf("Label(%q) = %s, want %s", c.lines, got, c.want)
		}
	}
}
