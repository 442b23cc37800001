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
	out := make(map[string]Outcome, len(r.outcomes))
	for k, v := range r.outcomes {
		out[k] = v
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

// noteOutcomeLocked is noteOutcome with r.mu held.
func (r *Run) noteOutcomeLocked(node, task string, o Outcome) {
	if r.outcomes == nil {
		// Sized for the nodes the run preloads, when it does: most of
		// them will have an outcome, and growing a map of a thousand
		// names step by step cost a warm run a tenth of its hits' time.
		r.outcomes = make(map[string]Outcome, len(r.preloadNodes))
	}
	r.outcomes[RecordName(node, task)] = o
}
