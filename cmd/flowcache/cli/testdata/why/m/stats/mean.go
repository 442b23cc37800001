// Package stats holds the helpers of the pipeline.
package stats

// Mean returns the mean of xs.
func Mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
