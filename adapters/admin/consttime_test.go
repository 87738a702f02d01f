package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The token lookup takes as long whichever token matches, and whether one
// does: the first configured, the last, a near miss of one (same length,
// same prefix) or something else entirely. An early exit would make the
// first token's lookup about 200 times faster than a wrong one's.
func TestTokenLookupTakesConstantTime(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	const n = 200
	tokens := make([]Token, n)
	for i := range tokens {
		tokens[i] = Token{User: fmt.Sprintf("u%d", i), Token: fmt.Sprintf("%032d-token-%04d", i, i)}
	}
	ts := newTokenSet(tokens)
	first, last := tokens[0].Token, tokens[n-1].Token
	candidates := map[string]string{
		"first":     first,
		"last":      last,
		"near miss": first[:len(first)-1] + "x",
		"wrong":     strings.Repeat("z", len(first)),
		"empty":     "",
	}
	const perBatch, batches = 200, 40
	best := map[string]time.Duration{}
	for range batches {
		for name, tok := range candidates { // interleaved: noise hits all alike
			start := time.Now()
			for range perBatch {
				ts.lookup(tok)
			}
			d := time.Since(start)
			if b, ok := best[name]; !ok || d < b {
				best[name] = d
			}
		}
	}
	lo, hi := time.Duration(1<<62), time.Duration(0)
	for _, d := range best {
		lo, hi = min(lo, d), max(hi, d)
	}
	t.Logf("best of %d batches of %d lookups among %d tokens: %v", batches, perBatch, n, best)
	if float64(hi) > 3*float64(lo) { // an early exit would be 100 times
		t.Errorf("lookups differ in time: %v", best)
	}
}
