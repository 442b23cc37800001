package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flowcache/flowcache/maintain"
)

// progress reports Verify's progress on stderr: a bar redrawn in place on a
// terminal (at most ten times a second), or a line at every tenth of the
// work otherwise.
type progress struct {
	w     io.Writer
	mode  string // bar, lines or none
	start time.Time
	last  time.Time
	step  int // the last tenth printed in lines mode
	drawn bool
	p     maintain.VerifyProgress
}

func newProgress(w io.Writer, mode string) *progress {
	return &progress{w: w, mode: mode, start: time.Now()}
}

func (p *progress) update(v maintain.VerifyProgress) {
	p.p = v
	switch p.mode {
	case "bar":
		if now := time.Now(); now.Sub(p.last) >= 100*time.Millisecond || v.Done == v.Total {
			p.last = now
			p.bar()
		}
	case "lines":
		if v.Total == 0 {
			return
		}
		if step := v.Done * 10 / v.Total; step > p.step || v.Done == v.Total {
			p.step = step
			fmt.Fprintf(p.w, "verify: %d/%d results (%d%%), %s of %s\n", v.Done, v.Total, v.Done*100/v.Total, fmtBytes(v.DoneBytes), fmtBytes(v.TotalBytes))
		}
	}
}

func (p *progress) bar() {
	v := p.p
	frac := 1.0
	if v.TotalBytes > 0 {
		frac = float64(v.DoneBytes) / float64(v.TotalBytes)
	} else if v.Total > 0 {
		frac = float64(v.Done) / float64(v.Total)
	}
	const width = 30
	n := int(frac * width)
	rate := ""
	if s := time.Since(p.start).Seconds(); s > 0 {
		rate = fmt.Sprintf("  %s/s", fmtBytes(int64(float64(v.DoneBytes)/s)))
	}
	fmt.Fprintf(p.w, "\r\x1b[Kverify [%s%s] %3d%%  %d/%d results  %s/%s%s",
		strings.Repeat("#", n), strings.Repeat("-", width-n), int(frac*100), v.Done, v.Total, fmtBytes(v.DoneBytes), fmtBytes(v.TotalBytes), rate)
	p.drawn = true
}

// done ends the bar's line.
func (p *progress) done() {
	if p.mode == "bar" && p.drawn {
		fmt.Fprintln(p.w)
	}
}
