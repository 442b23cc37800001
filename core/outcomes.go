package core

// Outcomes returns what happened to each node of the run so far, keyed by
// RecordName(node, task): OutcomeInput and OutcomeOverride for the values
// given, OutcomeRetrieved, OutcomeExecuted or OutcomeFailed for the nodes
// the run reached (an expanding node is executed; a retrieved node whose
// stored result proved unreadable when loaded, and was executed again, is
// OutcomeExecuted). A node the run did not reach is absent: the executor
// knows which nodes it was asked for and calls them skipped.
//
// The outcomes are those the run decided, whether or not the stores could
// record them (a read-only or failing cache records nothing, see Faults);
// when the stores work they are what the run history holds for the run
// (MetadataStore.Run, last record of a node wins). They are complete once
// End has returned: results stored in the background record their node
// when they are written.
func (r *Run) Outcomes() map[string]Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.outcomeMapLocked()
}

// namedOutcome is an outcome of a node (or task), by RecordName.
type namedOutcome struct {
	name    string
	outcome Outcome
}

// outcomeMapLocked returns the outcomes by RecordName, the last word on a
// node winning, in a new map; r.mu is held.
func (r *Run) outcomeMapLocked() map[string]Outcome {
	out := make(map[string]Outcome, len(r.outcomes))
	for _, no := range r.outcomes {
		out[no.name] = no.outcome
	}
	return out
}

// noteOutcome keeps what happened to a node for Outcomes; the last word on a
// node wins.
func (r *Run) noteOutcome(node, task string, o Outcome) {
	r.mu.Lock()
	r.noteOutcomeLocked(node, task, o)
	r.mu.Unlock()
}

// noteOutcomeLocked is noteOutcome with r.mu held. The outcomes are a list,
// made into a map by Outcomes once: a map kept up to date cost a warm run
// two of them (the run's, and the copy Outcomes returns), 160 KB for a
// thousand nodes, which a fresh process pays for in page faults.
func (r *Run) noteOutcomeLocked(node, task string, o Outcome) {
	if r.outcomes == nil {
		// Sized for the nodes the run preloads, when it does: most of
		// them will have an outcome.
		r.outcomes = make([]namedOutcome, 0, len(r.preloadNodes))
	}
	name := RecordName(node, task)
	// A node that is executed is said to be twice (once run, once its
	// result is stored), mostly one right after the other: once is enough.
	if n := len(r.outcomes); n > 0 && r.outcomes[n-1] == (namedOutcome{name, o}) {
		return
	}
	r.outcomes = append(r.outcomes, namedOutcome{name, o})
	if r.span != nil {
		if r.outcomeMap == nil {
			r.outcomeMap = map[string]Outcome{}
		}
		r.outcomeMap[name] = o
	}
}
