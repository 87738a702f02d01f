// Package features runs the domain's rules as Gherkin scenarios
// (features/*.feature) with godog under `go test`, in the registrar's own
// words, each scenario on a fresh registrar (both sides, internal/testreg)
// over an in-memory store. It has no code outside its tests.
package features
