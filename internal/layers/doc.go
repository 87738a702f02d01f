// Package layers has no code: its test keeps the imports of the whole
// module running one way (cmd -> adapters, replay -> projections, command
// side -> domain), as domain/purity_test.go keeps the domain pure.
package layers
