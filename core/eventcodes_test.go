package core

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
	"time"
)

// Every actor and event type declared in events.go has a code, so that
// runEvents keeps every event core emits compactly, and codes read back as
// the events they were made from.
func TestEventCodes(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "events.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, sp := range g.Specs {
			vs := sp.(*ast.ValueSpec)
			id, ok := vs.Type.(*ast.Ident)
			if !ok || len(vs.Values) != 1 {
				continue
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				continue
			}
			v := lit.Value[1 : len(lit.Value)-1]
			switch id.Name {
			case "Actor":
				if c, ok := actorCode(Actor(v)); !ok || eventActors[c] != Actor(v) {
					t.Errorf("actor %s (%q) has no code", vs.Names[0].Name, v)
				}
				n++
			case "EventType":
				if c, ok := typeCode(EventType(v)); !ok || eventTypes[c] != EventType(v) {
					t.Errorf("event type %s (%q) has no code", vs.Names[0].Name, v)
				}
				n++
			}
		}
	}
	if n != len(eventActors)+len(eventTypes) {
		t.Errorf("found %d actors and event types in events.go, the codes have %d", n, len(eventActors)+len(eventTypes))
	}

	// An event without codes is kept whole, in order.
	var r runEvents
	at := time.Unix(1, 0)
	in := []Event{
		{Node: "a", Actor: ActorAdapter, Type: EventExecuteNode, Time: at},
		{Node: "b", Actor: "someone", Type: EventExecuteNode, Value: "v", Time: at},
		{Node: "c", Actor: ActorResultStore, Type: "something", Message: "m", Time: at},
		{Node: "d", Task: "t", Actor: ActorMetadataStore, Type: EventGetDataVersion, Message: MessageMiss, Time: at},
	}
	for _, e := range in {
		r.add(e)
	}
	i := 0
	for e := range r.all() {
		if e != in[i] {
			t.Errorf("event %d: %+v, want %+v", i, e, in[i])
		}
		i++
	}
	if i != len(in) {
		t.Errorf("%d events read back, want %d", i, len(in))
	}
}
